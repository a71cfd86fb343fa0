// The settings every server reads (port, host, NODE_ENV, logs, proxies, metrics, HTTP limits, tracing) and where each subgraph answers.
import { DEFAULT_PORTS, SERVICES, STACK, type Service, type StackProcessName } from './stack';
import { choice, flag, httpUrl, integer, port, readSettings, setting, text, textWhere, type Setting } from './settings';
import { compileTrustProxy } from './websocket';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Settings every server has, whether gateway or subgraph. */
export interface ServerConfig {
  port: number;
  host: string;
  /** NODE_ENV=production: errors masked, introspection off, Sandbox off. */
  production: boolean;
  logLevel: LogLevel;
  /** Express's `trust proxy`: which hops may set X-Forwarded-For (the client address); false for none. */
  trustProxy: string | false;
  /** Where /metrics is served: its own port, or undefined for the API port (outside production only). */
  metricsPort: number | undefined;
  /** Slow clients: how long the request head, the whole request, and an idle connection may take (ms). */
  timeouts: { headersMs: number; requestMs: number; keepAliveMs: number };
  /** Largest request body accepted, in bytes. */
  bodyLimitBytes: number;
  /** How long shutdown waits for requests in flight, in milliseconds. */
  shutdownGraceMs: number;
  introspection: boolean;
}

/** The variable that sets process `name`'s port. */
export function portVariable<N extends StackProcessName>(name: N): `${Uppercase<N>}_PORT` {
  return `${name.toUpperCase() as Uppercase<N>}_PORT`;
}

/** `<NAME>_PORT`, the port process `name` listens on. */
export function portSetting<N extends StackProcessName>(name: N): Record<`${Uppercase<N>}_PORT`, Setting<number>> {
  return {
    [portVariable(name)]: setting(
      port(DEFAULT_PORTS[name]),
      'the port each process listens on (0: any free port, not under `npm start`)',
      [...STACK]
        .sort((a, b) => a.port - b.port)
        .map((entry) => `${entry.port} (${entry.name})`)
        .join(', '),
    ),
  } as Record<`${Uppercase<N>}_PORT`, Setting<number>>;
}

/** NODE_ENV, read by every process that behaves differently in production. */
export const NODE_ENV_SETTING = {
  // A typo (`Production`, `prod`) meant development, silently: development keys, introspection and Sandbox on.
  NODE_ENV: setting(
    choice(['development', 'test', 'production'], 'development'),
    '`production`: internal errors masked, introspection and Sandbox off, keys and passwords required; `development` or `test` otherwise, nothing else',
    'unset (development)',
  ),
};

/** NODE_ENV=production. */
export function isProduction(env: NodeJS.ProcessEnv): boolean {
  return readSettings(env, NODE_ENV_SETTING).NODE_ENV === 'production';
}

/** The address servers listen on. */
export const HOST_SETTING = { HOST: setting(text('127.0.0.1'), 'the address servers listen on') };

const LOG_LEVEL_DESCRIPTION = 'JSON logs on stdout: `fatal` … `trace`, `silent`';
const LOG_LEVEL_SHOWN = '`info` (`warn` under `npm start`)';

/** LOG_LEVEL, with the default of the process that reads it. */
export function logLevelSetting(fallback: LogLevel) {
  return { LOG_LEVEL: setting(choice(LOG_LEVELS, fallback), LOG_LEVEL_DESCRIPTION, LOG_LEVEL_SHOWN) };
}

/** The samplers OTEL_TRACES_SAMPLER may name (OpenTelemetry's, less those that need a remote service). */
export const TRACE_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

/**
 * OpenTelemetry's own variables that switch tracing on and shape it (runtime/src/tracing.ts): read by
 * OpenTelemetry, declared here so that a malformed endpoint, an unknown sampler or a ratio outside 0–1 stops
 * the process at start, naming it (OpenTelemetry would fall back to tracing every request), and so that the
 * README's table lists them. Any other `OTEL_*` variable works as OpenTelemetry documents.
 */
const TRACING_SETTINGS = {
  OTEL_EXPORTER_OTLP_ENDPOINT: setting(
    httpUrl(),
    'where to send traces (OTLP over HTTP, such as `http://collector:4318`); setting it switches tracing on',
    'unset: no tracing',
  ),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: setting(httpUrl(), '…or the full URL for traces alone (`…/v1/traces`)'),
  OTEL_TRACES_SAMPLER: setting(
    choice(TRACE_SAMPLERS),
    `which requests are traced (${TRACE_SAMPLERS.join(', ')}): \`parentbased_traceidratio\` with \`OTEL_TRACES_SAMPLER_ARG=0.1\` for one in ten, following the caller's decision`,
    '`parentbased_always_on`',
  ),
  OTEL_TRACES_SAMPLER_ARG: setting(
    textWhere((raw) => raw.trim() !== '' && Number(raw) >= 0 && Number(raw) <= 1, 'must be a number from 0 to 1'),
    "the sampler's argument (the ratio)",
  ),
  OTEL_SERVICE_NAME: setting(text(), "the spans' `service.name`", 'the process (`gateway`, `auth`…)'),
  OTEL_SDK_DISABLED: setting(flag(false), 'switches tracing off whatever else is set'),
};

/** Where a process serves its metrics; under `npm start`, the first of five consecutive ports. */
export const METRICS_PORT_SETTING = {
  METRICS_PORT: setting(
    port(),
    "a port of its own for `GET /metrics` (Prometheus), kept off the API port; unset, metrics are on the API port outside production and not served in production. Under `npm start`, the gateway's, and the next four ports auth's, profile's, payments' and admin's",
    'unset',
  ),
};

/** Whether Express takes `raw` as its `trust proxy` setting. */
function compiles(raw: string): boolean {
  try {
    compileTrustProxy(raw);
    return true;
  } catch {
    return false;
  }
}

function commonServerSettings(production: boolean) {
  return {
    ...HOST_SETTING,
    ...NODE_ENV_SETTING,
    ...logLevelSetting('info'),
    TRUST_PROXY: setting(
      // Checked here: Express compiles it only as the server starts, and its error named no setting ("invalid IP address: abc").
      textWhere(compiles, "is not Express's `trust proxy` syntax: `loopback`, `uniquelocal`, addresses or CIDR ranges, comma-separated"),
      "which hops may report the client's address in X-Forwarded-For, in Express's `trust proxy` syntax (`loopback`, `10.0.0.0/8`…); unset, nobody can: the address is the connection's. Set it where a proxy or the gateway stands in front",
      'none (`npm start` and the compose file give the subgraphs the gateway)',
    ),
    ...METRICS_PORT_SETTING,
    HTTP_HEADERS_TIMEOUT_MS: setting(integer(10_000, { max: 600_000 }), "time a client may take to send a request's headers"),
    HTTP_REQUEST_TIMEOUT_MS: setting(integer(30_000, { max: 3_600_000 }), 'time a client may take to send a whole request'),
    HTTP_KEEPALIVE_TIMEOUT_MS: setting(
      integer(10_000, { max: 600_000 }),
      'how long an idle connection stays open (behind a load balancer, longer than its idle timeout: 65000 behind one of 60 s)',
    ),
    MAX_BODY_BYTES: setting(integer(100_000), 'request body limit'),
    SHUTDOWN_GRACE_MS: setting(
      integer(10_000),
      'how long a stopping server lets requests in flight finish, and then how long it gives its background work and connections to close',
    ),
    INTROSPECTION: setting(flag(!production), 'allow introspection (`true`/`false`)', 'on outside production'),
    ...TRACING_SETTINGS,
  } satisfies Record<string, Setting<unknown>>;
}

/** The settings of a server process named `name`, for the settings table. */
export function serverSettings(name: StackProcessName, production: boolean) {
  return { ...portSetting(name), ...commonServerSettings(production) };
}

/** The settings shared by all servers, read from the environment once at start. */
export function loadServerConfig(name: StackProcessName, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const production = isProduction(env);
  const settings = readSettings(env, commonServerSettings(production));
  return {
    port: readSettings(env, portSetting(name))[portVariable(name)],
    host: settings.HOST,
    production,
    logLevel: settings.LOG_LEVEL,
    trustProxy: settings.TRUST_PROXY ?? false,
    metricsPort: settings.METRICS_PORT,
    timeouts: { headersMs: settings.HTTP_HEADERS_TIMEOUT_MS, requestMs: settings.HTTP_REQUEST_TIMEOUT_MS, keepAliveMs: settings.HTTP_KEEPALIVE_TIMEOUT_MS },
    bodyLimitBytes: settings.MAX_BODY_BYTES,
    shutdownGraceMs: settings.SHUTDOWN_GRACE_MS,
    introspection: settings.INTROSPECTION,
  };
}

/** Where each subgraph answers: `<SERVICE>_SUBGRAPH_URL`, read by the gateway and by the services for each other. */
export const SUBGRAPH_URL_SETTINGS = Object.fromEntries(
  SERVICES.map((service) => [
    `${service.toUpperCase()}_SUBGRAPH_URL`,
    setting(
      httpUrl(),
      'where a subgraph answers: the gateway routes there, and the services call its internal API at the same host and port',
      '`http://127.0.0.1:<its port>/graphql`; under `npm start`, the port it started it on',
    ),
  ]),
) as Record<string, Setting<string | undefined>>;

/** The subgraph URLs the settings give, for those set. */
export function subgraphUrls(env: NodeJS.ProcessEnv = process.env): Partial<Record<Service, string>> {
  const settings = readSettings(env, SUBGRAPH_URL_SETTINGS);
  return Object.fromEntries(
    SERVICES.flatMap((service) => {
      const url = settings[`${service.toUpperCase()}_SUBGRAPH_URL`];
      return url ? [[service, url]] : [];
    }),
  );
}
