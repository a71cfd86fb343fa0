import { ConfigError } from './errors';
import { SERVICES, type Service, serviceRole } from './services';

/** The environment variable that overrides one service's connection. */
export function serviceUrlVariable(service: Service): string {
  return `${service.toUpperCase()}_DATABASE_URL`;
}

function passwordVariable(service: Service): string {
  return `${service.toUpperCase()}_DB_PASSWORD`;
}

/** Development-only password for a service role; production must set its own. */
function developmentPassword(service: Service): string {
  return `${serviceRole(service)}_local_only`;
}

function parseUrl(value: string, setting: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${setting} is not a valid URL (expected postgresql://user:password@host:port/database)`);
  }
  if (url.protocol !== 'postgresql:' && url.protocol !== 'postgres:') {
    throw new ConfigError(`${setting} must start with postgresql:// (got "${url.protocol}")`);
  }
  if (url.pathname.length <= 1) throw new ConfigError(`${setting} must name a database (postgresql://.../database)`);
  return url;
}

export interface ServiceConnection {
  service: Service;
  /** The role the service connects as. */
  role: string;
  url: string;
  password: string;
  /** The setting the URL came from, for error messages. */
  source: string;
}

/**
 * Where a service connects: `<SERVICE>_DATABASE_URL` if set, otherwise the shared `DATABASE_URL` with
 * the service's own role and password (`<SERVICE>_DB_PASSWORD`; a development default outside production).
 */
export function serviceConnection(service: Service, env: NodeJS.ProcessEnv = process.env): ServiceConnection {
  const role = serviceRole(service);
  const explicitVariable = serviceUrlVariable(service);
  const explicit = env[explicitVariable];
  if (explicit) {
    const url = parseUrl(explicit, explicitVariable);
    const user = decodeURIComponent(url.username);
    if (user !== role) {
      throw new ConfigError(`${explicitVariable} must connect as the role ${role} (got user "${user || '(none)'}")`);
    }
    return { service, role, url: url.toString(), password: decodeURIComponent(url.password), source: explicitVariable };
  }
  const shared = env.DATABASE_URL;
  if (!shared) {
    throw new ConfigError(`neither ${explicitVariable} nor DATABASE_URL is set: the ${service} service has no database`);
  }
  const url = parseUrl(shared, 'DATABASE_URL');
  const password = env[passwordVariable(service)] ?? (env.NODE_ENV === 'production' ? undefined : developmentPassword(service));
  if (password === undefined) {
    throw new ConfigError(`${passwordVariable(service)} must be set in production (or set ${explicitVariable})`);
  }
  url.username = role;
  url.password = encodeURIComponent(password);
  return { service, role, url: url.toString(), password, source: 'DATABASE_URL' };
}

/** Every service's connection, as the owner's setup step needs them to create the roles. */
export function allServiceConnections(env: NodeJS.ProcessEnv = process.env): Record<Service, ServiceConnection> {
  return Object.fromEntries(SERVICES.map((service) => [service, serviceConnection(service, env)])) as Record<
    Service,
    ServiceConnection
  >;
}

/** The database owner's connection (migrations, roles, grants, seed). */
export function ownerUrl(env: NodeJS.ProcessEnv = process.env): string {
  const value = env.DATABASE_URL;
  if (!value) throw new ConfigError('DATABASE_URL is not set: it must name the database owner\'s connection');
  return parseUrl(value, 'DATABASE_URL').toString();
}

/** Reads a positive integer setting, failing with its name if it is anything else. */
export function positiveInteger(env: NodeJS.ProcessEnv, name: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new ConfigError(`${name} must be a whole number from 1 to ${max} (got "${raw}")`);
  }
  return value;
}
