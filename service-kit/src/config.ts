import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, positiveInteger, REPOSITORY_ROOT, SERVICES, serviceConnection, type Service } from '@fedstack/shared-db';

/** The port each process listens on unless `<NAME>_PORT` says otherwise. */
export const DEFAULT_PORTS = { gateway: 4000, auth: 4001, profile: 4002, payments: 4003, admin: 4004 } as const;

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Settings every process has, whether gateway or subgraph. */
export interface CommonConfig {
  port: number;
  host: string;
  /** NODE_ENV=production: errors masked, introspection off, Sandbox off. */
  production: boolean;
  logLevel: LogLevel;
  /** Express's `trust proxy`: which hops may set X-Forwarded-For (the client address). */
  trustProxy: string;
  /** Largest request body accepted, in bytes. */
  bodyLimitBytes: number;
  /** How long shutdown waits for requests in flight, in milliseconds. */
  shutdownGraceMs: number;
  introspection: boolean;
}

/** How a subgraph verifies access tokens: only the public key is needed. */
export interface TokenVerificationConfig {
  issuer: string;
  audience: string;
  /** PEM (SPKI), a JWK or a JWK Set, as JSON; from JWT_PUBLIC_KEY. */
  publicKey?: string;
  /** A JWKS endpoint to fetch keys from (auth serves one); from JWT_JWKS_URL. */
  jwksUrl?: string;
  /** Development only: the key pair file created on first use. */
  developmentKeyFile?: string;
}

/** How services call each other (internal commands and outbox deliveries). */
export interface InternalApiConfig {
  /**
   * This service's own Ed25519 key for its calls to the others, and the setting it came from
   * (INTERNAL_PRIVATE_KEY or INTERNAL_PRIVATE_KEY_FILE); unset in development, where each process makes one.
   */
  privateKey?: { value: string; setting: 'INTERNAL_PRIVATE_KEY' | 'INTERNAL_PRIVATE_KEY_FILE' };
  /** Each service's base URL, from `<SERVICE>_SUBGRAPH_URL`'s origin or the default local port. */
  peers: Record<Service, string>;
  /** Time one internal call may take, in milliseconds. */
  timeoutMs: number;
}

export interface OutboxConfig {
  /** How often the relay looks for due events without being notified, in milliseconds. */
  pollMs: number;
  /** The longest wait between two delivery attempts of one event, in milliseconds. */
  maxBackoffMs: number;
}

export interface ServiceConfig extends CommonConfig {
  service: Service;
  databaseUrl: string;
  /** The setting the database URL came from, for start-up errors. */
  databaseSetting: string;
  poolSize: number;
  tokens: TokenVerificationConfig;
  internal: InternalApiConfig;
  outbox: OutboxConfig;
}

function oneOf<T extends string>(env: NodeJS.ProcessEnv, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')} (got "${raw}")`);
  }
  return raw as T;
}

/** A TCP port; 0 lets the operating system choose a free one (tests). */
function portNumber(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new ConfigError(`${name} must be a port number from 0 to 65535 (got "${raw}")`);
  return value;
}

function flag(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError(`${name} must be true or false (got "${raw}")`);
}

/** An http(s) URL setting; anything else fails at start, naming the setting. */
export function httpUrl(value: string, setting: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    // Reported below.
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new ConfigError(`${setting} is not a valid http(s) URL (got "${value}")`);
  }
  return url.toString();
}

function optionalUrl(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name];
  return raw ? httpUrl(raw, name) : undefined;
}

/** The settings shared by all processes, read from the environment once at start. */
export function loadCommonConfig(name: keyof typeof DEFAULT_PORTS, env: NodeJS.ProcessEnv = process.env): CommonConfig {
  const production = env.NODE_ENV === 'production';
  return {
    port: portNumber(env, `${name.toUpperCase()}_PORT`, DEFAULT_PORTS[name]),
    host: env.HOST ?? '127.0.0.1',
    production,
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    trustProxy: env.TRUST_PROXY ?? 'loopback, linklocal, uniquelocal',
    bodyLimitBytes: positiveInteger(env, 'MAX_BODY_BYTES', 100_000),
    shutdownGraceMs: positiveInteger(env, 'SHUTDOWN_GRACE_MS', 10_000),
    introspection: flag(env, 'INTROSPECTION', !production),
  };
}

/**
 * The token verification settings. In production a public key or a JWKS URL is required, except for
 * auth, which verifies with the public half of its own signing key.
 */
export function loadTokenVerificationConfig(env: NodeJS.ProcessEnv = process.env, requireKey = true): TokenVerificationConfig {
  const publicKey = env.JWT_PUBLIC_KEY || undefined;
  const jwksUrl = optionalUrl(env, 'JWT_JWKS_URL');
  const production = env.NODE_ENV === 'production';
  if (production && requireKey && !publicKey && !jwksUrl) {
    throw new ConfigError('JWT_PUBLIC_KEY or JWT_JWKS_URL must be set in production: subgraphs cannot verify access tokens');
  }
  return {
    issuer: env.JWT_ISSUER ?? 'fedstack-auth',
    audience: env.JWT_AUDIENCE ?? 'fedstack',
    ...(publicKey ? { publicKey } : {}),
    ...(jwksUrl ? { jwksUrl } : {}),
    ...(production ? {} : { developmentKeyFile: env.JWT_DEV_KEY_FILE ?? path.join(REPOSITORY_ROOT, '.data', 'keys', 'jwt-signing-key.json') }),
  };
}

/** Where each subgraph answers (`<SERVICE>_SUBGRAPH_URL`), for those set; http(s) URLs only. */
export function subgraphUrls(env: NodeJS.ProcessEnv = process.env): Partial<Record<Service, string>> {
  const urls: Partial<Record<Service, string>> = {};
  for (const service of SERVICES) {
    const variable = `${service.toUpperCase()}_SUBGRAPH_URL`;
    const value = env[variable];
    if (value) urls[service] = httpUrl(value, variable);
  }
  return urls;
}

/** Reads a file a setting names (a container secret), failing with the setting's name. */
export function settingFile(file: string, setting: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`${setting} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}: ${file})`);
  }
}

/** The internal API's settings; in production the service's own key is required. */
export function loadInternalApiConfig(env: NodeJS.ProcessEnv = process.env): InternalApiConfig {
  const urls = subgraphUrls(env);
  const peers = Object.fromEntries(
    SERVICES.map((service) => [service, urls[service] ? new URL(urls[service]).origin : `http://127.0.0.1:${DEFAULT_PORTS[service]}`]),
  ) as Record<Service, string>;
  const timeoutMs = positiveInteger(env, 'INTERNAL_TIMEOUT_MS', 5000, 600_000);
  const privateKey = env.INTERNAL_PRIVATE_KEY
    ? { value: env.INTERNAL_PRIVATE_KEY, setting: 'INTERNAL_PRIVATE_KEY' as const }
    : env.INTERNAL_PRIVATE_KEY_FILE
      ? { value: settingFile(env.INTERNAL_PRIVATE_KEY_FILE, 'INTERNAL_PRIVATE_KEY_FILE'), setting: 'INTERNAL_PRIVATE_KEY_FILE' as const }
      : undefined;
  if (!privateKey && env.NODE_ENV === 'production') {
    throw new ConfigError('INTERNAL_PRIVATE_KEY or INTERNAL_PRIVATE_KEY_FILE must be set in production: the service has no key to sign its calls to the others with');
  }
  return { ...(privateKey ? { privateKey } : {}), peers, timeoutMs };
}

/** Everything a subgraph process reads from its environment, validated once at start. */
export function loadServiceConfig(service: Service, env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  const connection = serviceConnection(service, env);
  return {
    ...loadCommonConfig(service, env),
    service,
    databaseUrl: connection.url,
    databaseSetting: connection.source,
    poolSize: positiveInteger(env, 'DB_POOL_SIZE', 10, 1000),
    tokens: loadTokenVerificationConfig(env, service !== 'auth'),
    internal: loadInternalApiConfig(env),
    outbox: {
      pollMs: positiveInteger(env, 'OUTBOX_POLL_MS', 1000, 60_000),
      maxBackoffMs: positiveInteger(env, 'OUTBOX_MAX_BACKOFF_MS', 10_000, 3_600_000),
    },
  };
}
