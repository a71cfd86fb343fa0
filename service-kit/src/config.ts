// A subgraph's settings: its database, token verification, internal API, outbox and gateway check, read once at start.
import path from 'node:path';
import {
  POOL_TIMEOUT_MS,
  DATABASE_SETTINGS,
  REPLICA_SETTINGS,
  replicaMaxLagMs,
  serviceConnection,
  serviceReplicaConnections,
  type ReplicaConnection,
} from '@fedstack/shared-db';
import {
  ConfigError,
  REPOSITORY_ROOT,
  SERVICES,
  SUBGRAPH_URL_SETTINGS,
  defaultSubgraphUrl,
  flag,
  GATEWAY_DEVELOPMENT_KEY_FILE,
  httpUrl,
  integer,
  loadServerConfig,
  readSettings,
  secretSetting,
  serverSettings,
  setting,
  subgraphUrls,
  text,
  type ServerConfig,
  type Service,
} from '@fedstack/runtime';

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
  privateKey?: { value: string; setting: string };
  /** Other public keys it publishes for its calls (INTERNAL_OTHER_PUBLIC_KEYS): a rotation's next or last key. */
  otherPublicKeys?: string;
  /** Each service's base URL, from `<SERVICE>_SUBGRAPH_URL`'s origin or the default local port. */
  peers: Record<Service, string>;
  /** Time one internal call may take, in milliseconds. */
  timeoutMs: number;
}

/** Whether the subgraph answers GraphQL only to the gateway, and the key its assertions are checked with. */
export interface GatewayCheckConfig {
  required: boolean;
  /** PEM (SPKI), a JWK or a JWK Set, and the setting it came from (GATEWAY_PUBLIC_KEY or its _FILE). */
  publicKey?: { value: string; setting: string };
  /** Development only: the gateway's key pair file, created on first use. */
  developmentKeyFile?: string;
}

export interface OutboxConfig {
  /** How often the relay looks for due events without being notified, in milliseconds. */
  pollMs: number;
  /** The longest wait between two delivery attempts of one event, in milliseconds. */
  maxBackoffMs: number;
  /** Attempts after which an event still undelivered is parked for an operator. */
  maxAttempts: number;
  /** DB_POOL_TIMEOUT_MS, which bounds the relay's waits for a connection as the service's own. */
  poolTimeoutMs: number;
}

export interface ServiceConfig extends ServerConfig {
  service: Service;
  databaseUrl: string;
  /** The setting the database URL came from, for start-up errors. */
  databaseSetting: string;
  /** Streaming replicas for reads that may be a little behind (none: every read on the primary), and how far behind one may be. */
  replicas: ReplicaConnection[];
  replicaMaxLagMs: number;
  poolSize: number;
  /** DB_POOL_TIMEOUT_MS: how long a statement may wait for a connection of the pool. */
  poolTimeoutMs: number;
  tokens: TokenVerificationConfig;
  internal: InternalApiConfig;
  outbox: OutboxConfig;
  gateway: GatewayCheckConfig;
}

/** The development key pair's file, created on first use (git-ignored). */
const DEVELOPMENT_KEY_FILE = path.join(REPOSITORY_ROOT, '.data', 'keys', 'jwt-signing-key.json');

/** How a service verifies access tokens. */
const TOKEN_SETTINGS = {
  JWT_PUBLIC_KEY: setting(text(), 'how profile, payments and admin verify tokens: a public key (PEM, JWK or JWK Set)', 'the development key'),
  JWT_JWKS_URL: setting(httpUrl(), "…or where to fetch one (auth's `/.well-known/jwks.json`); one of the two is required in production"),
  JWT_ISSUER: setting(text('fedstack-auth'), 'pinned token claim `iss`'),
  JWT_AUDIENCE: setting(text('fedstack'), 'pinned token claim `aud`'),
};

/** What a subgraph reads besides the server settings and where its database is. */
const SUBGRAPH_SETTINGS = {
  DB_POOL_SIZE: setting(integer(10, { max: 1000 }), "connections in each service's pool"),
  DB_POOL_TIMEOUT_MS: setting(
    integer(POOL_TIMEOUT_MS, { max: 600_000 }),
    "time a statement may wait for a connection of the service's pool (a free one, or a new one to connect) before it fails as the database being unavailable (503 to the gateway, whose breaker counts it); keep it below the gateway's SUBGRAPH_TIMEOUT_MS",
  ),
  ...TOKEN_SETTINGS,
  INTERNAL_PRIVATE_KEY: setting(
    text(),
    "a subgraph's own Ed25519 private key (PKCS#8 PEM or JWK) for its calls to the other services, which check them with the public key it serves at `/internal/jwks.json`; the same for every replica of a service; required in production",
    'one made per process outside production',
  ),
  INTERNAL_PRIVATE_KEY_FILE: setting(text(), '…or a file holding that key (a container secret)'),
  INTERNAL_OTHER_PUBLIC_KEYS: setting(
    text(),
    'public keys (PEM, JWK or JWK Set) a subgraph serves at `/internal/jwks.json` beside its own: in a rotation of `INTERNAL_PRIVATE_KEY`, the next key until every replica of the service signs with it, then the last one until none does (docs/operations.md, "Rotating keys")',
  ),
  INTERNAL_TIMEOUT_MS: setting(
    integer(5000, { max: 600_000 }),
    'time one call between services may take; its signed token is valid that long and a second more, so a call that reaches a service later (a hung host back) is refused rather than run after its caller gave up, and a command still at work then (waiting on a lock) is rolled back rather than committed',
  ),
  OUTBOX_POLL_MS: setting(integer(1000, { max: 60_000 }), 'how often a service looks for events to deliver without being woken'),
  OUTBOX_MAX_BACKOFF_MS: setting(
    integer(10_000, { max: 3_600_000 }),
    'the longest wait between two attempts to deliver one event; a destination that could not be reached is asked whether it is ready every `OUTBOX_POLL_MS` meanwhile, and gets its events as soon as it is',
  ),
  OUTBOX_MAX_ATTEMPTS: setting(
    integer(10_000, { max: 1_000_000_000 }),
    'delivery attempts after which an event is parked for an operator (at the default backoff, about 28 hours of a destination being unreachable); a refused event is parked at once',
  ),
};

/** Whether a subgraph answers only the gateway: on in production unless switched off. */
function gatewayCheckSettings(production: boolean) {
  return {
    REQUIRE_GATEWAY: setting(
      flag(production),
      "subgraphs answer GraphQL only to requests carrying the gateway's signed assertion (`x-gateway-assertion`), so that nobody skips the gateway's limits",
      '`true` in production, else `false`',
    ),
    GATEWAY_PUBLIC_KEY: setting(
      text(),
      "the gateway's public key (PEM, JWK or JWK Set) that subgraphs check its assertions with; required in production while `REQUIRE_GATEWAY` is on",
      'the development key',
    ),
    GATEWAY_PUBLIC_KEY_FILE: setting(text(), '…or a file holding that key'),
  };
}

/** Every setting a subgraph process reads, for the settings table. */
export function serviceSettings(service: Service, production = false) {
  return {
    ...serverSettings(service, production),
    ...DATABASE_SETTINGS,
    ...REPLICA_SETTINGS,
    ...SUBGRAPH_SETTINGS,
    ...gatewayCheckSettings(production),
    ...SUBGRAPH_URL_SETTINGS,
  };
}

/** Everything a subgraph process reads from its environment, validated once at start. */
export function loadServiceConfig(service: Service, env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  const server = loadServerConfig(service, env);
  const connection = serviceConnection(service, env);
  const settings = readSettings(env, SUBGRAPH_SETTINGS);
  const { production } = server;
  const gateway = readSettings(env, gatewayCheckSettings(production));
  const gatewayKey = secretSetting(env, 'GATEWAY_PUBLIC_KEY');
  if (production && gateway.REQUIRE_GATEWAY && !gatewayKey) {
    throw new ConfigError(
      'GATEWAY_PUBLIC_KEY or GATEWAY_PUBLIC_KEY_FILE must be set in production (or REQUIRE_GATEWAY=false): the subgraph cannot tell the gateway from anyone else',
    );
  }
  // auth verifies tokens with the public half of its own signing key; the others need one given.
  if (production && service !== 'auth' && !settings.JWT_PUBLIC_KEY && !settings.JWT_JWKS_URL) {
    throw new ConfigError('JWT_PUBLIC_KEY or JWT_JWKS_URL must be set in production: subgraphs cannot verify access tokens');
  }
  const privateKey = secretSetting(env, 'INTERNAL_PRIVATE_KEY');
  if (!privateKey && production) {
    throw new ConfigError(
      'INTERNAL_PRIVATE_KEY or INTERNAL_PRIVATE_KEY_FILE must be set in production: the service has no key to sign its calls to the others with',
    );
  }
  const urls = subgraphUrls(env);
  const peers = Object.fromEntries(SERVICES.map((peer) => [peer, new URL(urls[peer] ?? defaultSubgraphUrl(peer)).origin])) as Record<Service, string>;
  return {
    ...server,
    service,
    databaseUrl: connection.url,
    databaseSetting: connection.source,
    replicas: serviceReplicaConnections(service, env),
    replicaMaxLagMs: replicaMaxLagMs(env),
    poolSize: settings.DB_POOL_SIZE,
    poolTimeoutMs: settings.DB_POOL_TIMEOUT_MS,
    tokens: {
      issuer: settings.JWT_ISSUER,
      audience: settings.JWT_AUDIENCE,
      ...(settings.JWT_PUBLIC_KEY ? { publicKey: settings.JWT_PUBLIC_KEY } : {}),
      ...(settings.JWT_JWKS_URL ? { jwksUrl: settings.JWT_JWKS_URL } : {}),
      ...(production ? {} : { developmentKeyFile: DEVELOPMENT_KEY_FILE }),
    },
    internal: {
      ...(privateKey ? { privateKey } : {}),
      ...(settings.INTERNAL_OTHER_PUBLIC_KEYS ? { otherPublicKeys: settings.INTERNAL_OTHER_PUBLIC_KEYS } : {}),
      peers,
      timeoutMs: settings.INTERNAL_TIMEOUT_MS,
    },
    outbox: {
      pollMs: settings.OUTBOX_POLL_MS,
      maxBackoffMs: settings.OUTBOX_MAX_BACKOFF_MS,
      maxAttempts: settings.OUTBOX_MAX_ATTEMPTS,
      poolTimeoutMs: settings.DB_POOL_TIMEOUT_MS,
    },
    gateway: {
      required: gateway.REQUIRE_GATEWAY,
      ...(gatewayKey ? { publicKey: gatewayKey } : {}),
      ...(production ? {} : { developmentKeyFile: GATEWAY_DEVELOPMENT_KEY_FILE }),
    },
  };
}

/** How much one WebSocket connection to a subgraph may carry (subscriptions, for the gateway). */
export interface SubscriptionLimits {
  /** Subscriptions one connection may hold at once. */
  maxPerConnection: number;
  /** Subscriptions the process may hold at once, over all its connections. */
  maxPerProcess: number;
  /** Bytes waiting to be sent on one connection past which its sends wait for it to drain. */
  maxBufferedBytes: number;
  /** The largest result one event of a subscription may have; a larger one ends that subscription. */
  maxEventBytes: number;
}

/**
 * What a subgraph that serves subscriptions (payments, admin) reads besides a subgraph's settings. Its
 * client is the gateway, whose every process keeps one connection to the service for all its clients'
 * subscriptions there: hence limits far above the gateway's own per client.
 */
export const SUBSCRIPTION_SETTINGS = {
  SUBGRAPH_SUBSCRIPTIONS_MAX_PER_CONNECTION: setting(
    integer(10_000, { max: 1_000_000 }),
    "subscriptions one WebSocket connection to payments or admin may hold at once (one gateway process's connection carries all its clients' subscriptions to the service)",
  ),
  SUBGRAPH_SUBSCRIPTIONS_MAX_PER_PROCESS: setting(
    integer(6000, { max: 10_000_000 }),
    "subscriptions one payments or admin process may hold at once, over every gateway process's connection: each takes about 11 kB of heap, and the default fits the images' 128 MB (`--max-old-space-size`), in which payments ran out of memory at about 9,000; past it a new one is refused TOO_MANY_SUBSCRIPTIONS, to try again (several gateway processes' connections can reach one process, each within `SUBGRAPH_SUBSCRIPTIONS_MAX_PER_CONNECTION`)",
  ),
  SUBGRAPH_SUBSCRIPTION_MAX_BUFFERED_BYTES: setting(
    integer(16_777_216, { min: 65_536, max: 1_073_741_824 }),
    "bytes waiting to be sent on one WebSocket connection to payments or admin past which its events wait for them to go out, and bytes of results its subscriptions may hold meanwhile, past which those holding some end (events missed): the gateway's connection carries many clients' events, and a gateway that reads nothing is dropped when it stops answering pings",
  ),
  SUBGRAPH_SUBSCRIPTION_MAX_EVENT_BYTES: setting(
    integer(1_048_576, { min: 1024, max: 1_073_741_824 }),
    "the largest result one event of a subscription may have at payments or admin (as JSON); a larger one ends that subscription with OPERATION_TOO_COMPLEX, and more of its results than that waiting to be sent end it as fallen behind (SUBGRAPH_UNAVAILABLE, events may have been missed); the gateway's own bound per subscriber, `SUBSCRIPTION_MAX_BUFFERED_BYTES`, is 1 MiB by default",
  ),
};

/** A subscription-serving subgraph's WebSocket limits, read once at start. */
export function loadSubscriptionLimits(env: NodeJS.ProcessEnv = process.env): SubscriptionLimits {
  const settings = readSettings(env, SUBSCRIPTION_SETTINGS);
  return {
    maxPerConnection: settings.SUBGRAPH_SUBSCRIPTIONS_MAX_PER_CONNECTION,
    maxPerProcess: settings.SUBGRAPH_SUBSCRIPTIONS_MAX_PER_PROCESS,
    maxBufferedBytes: settings.SUBGRAPH_SUBSCRIPTION_MAX_BUFFERED_BYTES,
    maxEventBytes: settings.SUBGRAPH_SUBSCRIPTION_MAX_EVENT_BYTES,
  };
}
