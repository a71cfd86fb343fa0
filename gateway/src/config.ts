// The gateway's settings: its supergraph, subgraph calls, circuit breakers, operation limits, CORS, assertion key, subscriptions and persisted documents.
import path from 'node:path';
import { z } from 'zod';
import { PERSISTED_MODES, type PersistedSettings } from './persisted/documents';
import type { BreakerSettings } from './subgraphs/breaker';
import {
  ConfigError,
  REPOSITORY_ROOT,
  SUBGRAPH_URL_SETTINGS,
  choice,
  flag,
  integer,
  loadServerConfig,
  readSettings,
  secretSetting,
  serverSettings,
  setting,
  subgraphUrls,
  text,
  type ServerConfig,
} from '@fedstack/runtime';

/** Refusal thresholds for abusive operations, checked before any subgraph is called. */
export interface OperationLimits {
  maxDepth: number;
  maxAliases: number;
  maxDirectives: number;
  /** Lexical tokens in the document; enforced by the parser itself. */
  maxTokens: number;
  /** Fields weighted by list sizes (see limits.ts). */
  maxCost: number;
}

/** The bounds on subscriptions (docs/adr/0010-subscriptions.md). */
export interface SubscriptionSettings {
  maxPerConnection: number;
  maxPerUser: number;
  /** WebSocket connections one user may hold open in one gateway process. */
  maxConnectionsPerUser: number;
  /** Time a WebSocket client has to send `connection_init`, in milliseconds. */
  initTimeoutMs: number;
  /** Bytes waiting to be sent to one client before it is disconnected as a slow consumer. */
  maxBufferedBytes: number;
  /** Events of one subscription waiting for the gateway's work on them before it ends (events may have been missed). */
  maxQueuedEvents: number;
}

export interface GatewayConfig extends ServerConfig {
  supergraphFile: string;
  /** How often the supergraph file is checked for changes, in milliseconds. */
  supergraphPollMs: number;
  /** Routing URL overrides by subgraph name (<NAME>_SUBGRAPH_URL), for containers. */
  subgraphUrls: Record<string, string>;
  /** Time a subgraph call may take before it fails, in milliseconds. */
  subgraphTimeoutMs: number;
  /** Keep-alive connections per subgraph. */
  subgraphConnections: number;
  /** The longest answer the gateway reads from a subgraph, in bytes. */
  subgraphMaxResponseBytes: number;
  /** Whether identical queries in flight share one subgraph call (subgraphs/dedupe.ts). */
  deduplicateQueries: boolean;
  /** When the gateway stops calling a failing subgraph for a while (its circuit breaker). */
  breaker: BreakerSettings;
  limits: OperationLimits;
  /** Browser origins allowed to call the API: '*' for any, empty for none. */
  corsOrigins: string[] | '*';
  subscriptions: SubscriptionSettings;
  /** Which documents run (docs/adr/0011-persisted-documents.md). */
  persisted: PersistedSettings;
  /** Bytes of documents Apollo Server keeps for automatic persisted queries (off in require mode). */
  apqCacheBytes: number;
  /**
   * The gateway's own Ed25519 key, which signs its assertion to the subgraphs, and the setting it came
   * from (GATEWAY_PRIVATE_KEY or its _FILE); unset outside production, where the development key is used.
   */
  assertionKey?: { value: string; setting: string };
}

/** `*`, or a comma-separated list of origins; unset is undefined (the default depends on NODE_ENV). */
function origins(): z.ZodType<string[] | '*' | undefined, string | undefined> {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined) return undefined;
      if (raw.trim() === '*') return '*';
      const list = raw
        .split(',')
        .map((origin) => origin.trim())
        .filter(Boolean);
      for (const origin of list) {
        if (!URL.canParse(origin) || new URL(origin).origin !== origin) {
          ctx.addIssue({ code: 'custom', message: `must be "*" or a comma-separated list of origins such as https://app.example.com (got "${origin}")` });
          return z.NEVER;
        }
      }
      return list;
    });
}

/** Comma-separated file paths, each resolved from the working folder; unset is none. */
function fileList(): z.ZodType<string[], string | undefined> {
  return z
    .string()
    .optional()
    .transform((raw) =>
      (raw ?? '')
        .split(',')
        .map((file) => file.trim())
        .filter(Boolean)
        .map((file) => path.resolve(file)),
    );
}

/** The operation limits: the gateway refuses operations over them, and `check:schema` the listed operations a change would put over them. */
export const OPERATION_LIMIT_SETTINGS = {
  MAX_QUERY_DEPTH: setting(
    integer(12, { max: 1000 }),
    'deepest selection accepted, fragments counted as if written inline; deeper operations are refused before any subgraph is called',
  ),
  MAX_QUERY_ALIASES: setting(integer(30, { max: 10_000 }), 'most aliases in one operation'),
  MAX_QUERY_DIRECTIVES: setting(integer(20, { max: 10_000 }), 'most directives in one operation'),
  MAX_QUERY_TOKENS: setting(integer(3000, { max: 1_000_000 }), 'most lexical tokens in one document (the parser stops there)'),
  MAX_QUERY_COST: setting(
    // Not below the weight of the mutations that hash a password (auth's schema): no one could sign in.
    integer(20_000, { min: 15_000, max: 100_000_000 }),
    'highest cost accepted, counted from the schema\'s `@cost` and `@listSize` (docs/operations.md, "Demand control"); at least 15,000, what a sign-in, a registration or a password change weighs, and each 15,000 more lets one more into an operation',
  ),
};

/** The operation limits, from OPERATION_LIMIT_SETTINGS. */
export function readOperationLimits(env: NodeJS.ProcessEnv = process.env): OperationLimits {
  const settings = readSettings(env, OPERATION_LIMIT_SETTINGS);
  return {
    maxDepth: settings.MAX_QUERY_DEPTH,
    maxAliases: settings.MAX_QUERY_ALIASES,
    maxDirectives: settings.MAX_QUERY_DIRECTIVES,
    maxTokens: settings.MAX_QUERY_TOKENS,
    maxCost: settings.MAX_QUERY_COST,
  };
}

/** What the gateway reads besides the server settings. */
const GATEWAY_SETTINGS = {
  SUPERGRAPH_FILE: setting(
    text(path.join(REPOSITORY_ROOT, 'supergraph.graphql')),
    'the supergraph the gateway serves (reloaded when it changes)',
    '`supergraph.graphql`',
  ),
  SUPERGRAPH_POLL_MS: setting(integer(1000, { max: 3_600_000 }), 'how often the gateway looks for a changed supergraph or persisted query manifest'),
  SUBGRAPH_TIMEOUT_MS: setting(
    integer(10_000, { max: 600_000 }),
    'time one subgraph call may take (the call says when it ends, `x-request-deadline`, and a subgraph runs nothing that reaches it more than a second later), and a subgraph to accept the connection for subscriptions or answer a ping on it',
  ),
  SUBGRAPH_CONNECTIONS: setting(integer(64, { max: 10_000 }), 'keep-alive connections per subgraph'),
  SUBGRAPH_MAX_RESPONSE_BYTES: setting(
    integer(16_777_216, { min: 65_536, max: 1_073_741_824 }),
    'the longest answer the gateway reads from a subgraph call; a longer one fails that call with SUBGRAPH_UNAVAILABLE (each is held whole in memory while the answer is put together)',
  ),
  DEDUPLICATE_QUERIES: setting(
    flag(false),
    '`true`: identical queries in flight at once (same user, operation and variables) share one subgraph call. A mutation answered by the same gateway process ends the sharing of calls sent before it; one answered by another worker or replica does not, so a refetch after a write may get an identical poll\'s older answer unless the client sends back its `x-wal-positions` (README, "Reading your own writes")',
  ),
  CIRCUIT_MIN_CALLS: setting(
    integer(5, { max: 100_000 }),
    'calls to a subgraph within 10 s before its circuit breaker may open (then calls fail at once with SUBGRAPH_UNAVAILABLE instead of waiting out SUBGRAPH_TIMEOUT_MS)',
  ),
  CIRCUIT_ERROR_PERCENT: setting(
    integer(50, { max: 100 }),
    'share of those calls, in percent, that must fail (no answer in time, no connection, HTTP 5xx) to open it: this share or more (100: when every call fails)',
  ),
  CIRCUIT_RESET_MS: setting(integer(5000, { max: 600_000 }), 'how long an open breaker refuses calls before letting one trial call through'),
  ...OPERATION_LIMIT_SETTINGS,
  CORS_ORIGINS: setting(origins(), 'comma-separated browser origins allowed to call the gateway, or `*`', '`*` outside production, none in production'),
  GATEWAY_PRIVATE_KEY: setting(
    text(),
    "the gateway's Ed25519 private key (PKCS#8 PEM or JWK) that signs its assertion to the subgraphs (`GATEWAY_PUBLIC_KEY` is its public half); the same for every gateway replica; required in production",
    '`.data/keys/gateway-key.json`, made on first use, outside production',
  ),
  GATEWAY_PRIVATE_KEY_FILE: setting(text(), '…or a file holding that key (a container secret)'),
  SUBSCRIPTIONS_MAX_PER_CONNECTION: setting(
    integer(25, { max: 10_000 }),
    'operations one WebSocket connection may hold at once: subscriptions, and queries or mutations awaiting their answers',
  ),
  SUBSCRIPTIONS_MAX_PER_USER: setting(
    integer(50, { max: 100_000 }),
    'subscriptions one user may hold at once in one gateway process (over every connection and transport there)',
  ),
  SUBSCRIPTIONS_MAX_CONNECTIONS_PER_USER: setting(
    integer(20, { max: 10_000 }),
    'WebSocket connections one user may hold open at once in one gateway process; one more is closed with 4429 once its token is checked',
  ),
  SUBSCRIPTION_INIT_TIMEOUT_MS: setting(
    integer(5000, { max: 600_000 }),
    'time a WebSocket client has to send `connection_init` before it is disconnected (4408)',
  ),
  SUBSCRIPTION_MAX_BUFFERED_BYTES: setting(
    integer(1_048_576, { min: 1024, max: 1_073_741_824 }),
    "bytes waiting to be sent to one subscriber before it is disconnected as a client that stopped reading (the gateway's memory does not grow with a backlog)",
  ),
  SUBSCRIPTION_MAX_QUEUED_EVENTS: setting(
    integer(100, { max: 100_000 }),
    "events of one subscription waiting for the gateway's work on them (slower than they come, behind a slow subgraph) before it ends with SUBGRAPH_UNAVAILABLE (events may have been missed)",
  ),
  PERSISTED_DOCUMENTS_FILE: setting(
    fileList(),
    'Apollo persisted query manifests (comma-separated paths) listing the operations clients ship; reloaded when they change (README, "Persisted operations")',
    'none',
  ),
  PERSISTED_DOCUMENTS: setting(
    choice(PERSISTED_MODES),
    '`off` (any document; the manifests are not read), `allow` (listed ids resolve, any document runs) or `require` (only listed operations run; others get `PERSISTED_QUERY_NOT_IN_LIST`)',
    '`require` in production and `allow` outside it when `PERSISTED_DOCUMENTS_FILE` is set; else `off`',
  ),
  // Read by Apollo Gateway itself, as it documents; declared so that the README's table lists it and a bad value stops the gateway.
  APOLLO_TELEMETRY_DISABLED: setting(
    flag(false),
    "`true` stops the anonymous usage report Apollo Gateway sends Apollo every hour (uptime, CPU, OS, cloud provider), for which it also probes the cloud providers' metadata addresses at start",
  ),
  APQ_CACHE_MAX_BYTES: setting(
    integer(8_388_608, { min: 65_536, max: 1_073_741_824 }),
    'bytes of memory each gateway process gives the documents of automatic persisted queries, each counted with its key and its entry (least recently used go first; each worker and replica has its own)',
  ),
};

/**
 * A gateway worker's old-generation heap by default, in MB. Room for its
 * subscriptions above all: each idle one holds about 40 kB, and a gateway limited to 160 MB ran out of
 * memory and stopped with 5,000 subscribers (`npm run bench`); 384 holds about 7,000 beside the 60 MB
 * the gateway needs itself. The mix alone peaks far below it.
 */
const GATEWAY_WORKER_HEAP_MB = 384;
/** Settings only the gateway's primary process reads (node:cluster). */
export const GATEWAY_PROCESS_SETTINGS = {
  GATEWAY_WORKERS: setting(
    integer(1, { max: 64 }),
    'gateway processes sharing the port: one per core the gateway has to itself (on cores it shares with the subgraphs and PostgreSQL, one did better; docs/performance.md)',
  ),
  /**
   * V8 otherwise lets the heap grow lazily to several times the live data under load (a profile showed
   * 290 MB peak RSS for a single worker; 175 MB with 128 MB).
   */
  GATEWAY_WORKER_HEAP_MB: setting(
    integer(GATEWAY_WORKER_HEAP_MB, { min: 16, max: 65_536 }),
    "each gateway worker's old-generation heap, in MB, when there is more than one",
  ),
};

/** Every setting the gateway reads, for the settings table. */
export function gatewaySettings(production = false) {
  return { ...serverSettings('gateway', production), ...GATEWAY_SETTINGS, ...SUBGRAPH_URL_SETTINGS, ...GATEWAY_PROCESS_SETTINGS };
}

/** The gateway's settings, read once at start. */
export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const server = loadServerConfig('gateway', env);
  const settings = readSettings(env, GATEWAY_SETTINGS);
  const assertionKey = secretSetting(env, 'GATEWAY_PRIVATE_KEY');
  if (server.production && !assertionKey) {
    throw new ConfigError('GATEWAY_PRIVATE_KEY or GATEWAY_PRIVATE_KEY_FILE must be set in production: the subgraphs accept only requests the gateway signs');
  }
  const files = settings.PERSISTED_DOCUMENTS_FILE;
  const mode = settings.PERSISTED_DOCUMENTS ?? (files.length === 0 ? 'off' : server.production ? 'require' : 'allow');
  if (mode !== 'off' && files.length === 0) {
    throw new ConfigError(`PERSISTED_DOCUMENTS=${mode} needs the manifests in PERSISTED_DOCUMENTS_FILE`);
  }
  return {
    ...server,
    supergraphFile: path.resolve(settings.SUPERGRAPH_FILE),
    supergraphPollMs: settings.SUPERGRAPH_POLL_MS,
    subgraphUrls: subgraphUrls(env),
    subgraphTimeoutMs: settings.SUBGRAPH_TIMEOUT_MS,
    subgraphConnections: settings.SUBGRAPH_CONNECTIONS,
    subgraphMaxResponseBytes: settings.SUBGRAPH_MAX_RESPONSE_BYTES,
    deduplicateQueries: settings.DEDUPLICATE_QUERIES,
    breaker: { minCalls: settings.CIRCUIT_MIN_CALLS, errorPercent: settings.CIRCUIT_ERROR_PERCENT, resetMs: settings.CIRCUIT_RESET_MS },
    limits: readOperationLimits(env),
    corsOrigins: settings.CORS_ORIGINS ?? (server.production ? [] : '*'),
    subscriptions: {
      maxPerConnection: settings.SUBSCRIPTIONS_MAX_PER_CONNECTION,
      maxPerUser: settings.SUBSCRIPTIONS_MAX_PER_USER,
      maxConnectionsPerUser: settings.SUBSCRIPTIONS_MAX_CONNECTIONS_PER_USER,
      initTimeoutMs: settings.SUBSCRIPTION_INIT_TIMEOUT_MS,
      maxBufferedBytes: settings.SUBSCRIPTION_MAX_BUFFERED_BYTES,
      maxQueuedEvents: settings.SUBSCRIPTION_MAX_QUEUED_EVENTS,
    },
    // Off, the manifests are not read: safelisting turned off gets a gateway past a manifest it cannot use.
    persisted: { mode, files: mode === 'off' ? [] : files, pollMs: settings.SUPERGRAPH_POLL_MS },
    apqCacheBytes: settings.APQ_CACHE_MAX_BYTES,
    ...(assertionKey ? { assertionKey } : {}),
  };
}
