// OpenTelemetry tracing for one process: off unless an OTLP endpoint is configured the standard way
// (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`; `OTEL_SDK_DISABLED=true` turns
// it off again). The rest comes from the standard variables: the exporter's headers and the resource
// attributes, read by OpenTelemetry itself; sampling (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`),
// batching (`OTEL_BSP_*`) and span limits, which its trace SDK 3 no longer reads (that moved to the
// all-in-one `@opentelemetry/sdk-node`), read by `traceSdkOptions` here as SDK 2 read them.
//
// Spans: HTTP in and out (W3C `traceparent` carried across), Express, GraphQL (parse, validate, execute,
// resolvers), undici (the gateway's subgraph calls, the services' internal calls) and what a process adds
// (PostgreSQL statements, in the subgraphs). Apollo Gateway adds its own (plan, fetch) once a provider is
// registered.
//
// It must run before the modules it instruments are loaded: each entry point imports its tracing module
// first. Off, it loads nothing of the SDK.
import type * as Api from '@opentelemetry/api';
import type * as ContextAsyncHooks from '@opentelemetry/context-async-hooks';
import type * as Core from '@opentelemetry/core';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import type * as SdkTrace from '@opentelemetry/sdk-trace';
import type { BatchSpanProcessorOptions, Sampler, SpanLimits } from '@opentelemetry/sdk-trace';
import type * as OtlpHttp from '@opentelemetry/exporter-trace-otlp-http';
import type * as Resources from '@opentelemetry/resources';
import type { TRACE_SAMPLERS } from './config';
import type * as InstrumentationApi from '@opentelemetry/instrumentation';
import type * as HttpModule from '@opentelemetry/instrumentation-http';
import type * as ExpressModule from '@opentelemetry/instrumentation-express';
import type * as GraphQLModule from '@opentelemetry/instrumentation-graphql';
import type * as UndiciModule from '@opentelemetry/instrumentation-undici';
import { logThrottle } from './log-throttle';
import { createLogger, type LogDestination, type Logger } from './logger';

export interface Tracing {
  /** Sends the spans still buffered; call when the process stops. */
  shutdown(): Promise<void>;
}

/** What an incoming request's `url.query` keeps: a GraphQL GET's operation name says nothing of the user. */
const KEPT_QUERY_PARAMS = new Set(['operationName']);

/**
 * An incoming request's query string with the value of every parameter but the operation name replaced:
 * a GraphQL GET carries the document and variables (a password, an e-mail address) there, and a client
 * may put anything else beside them (a token, a signed URL's signature), which a list of names to redact
 * would miss.
 */
export function redactedQuery(url: string): string | undefined {
  const start = url.indexOf('?');
  if (start < 0) return undefined;
  const params = [...new URLSearchParams(url.slice(start + 1))];
  return new URLSearchParams(params.map(([name, value]): [string, string] => [name, KEPT_QUERY_PARAMS.has(name) ? value : 'REDACTED'])).toString();
}

/** True when the environment asks for traces. */
export function tracingEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim());
}

/**
 * Loads a module only when tracing is on. A static import would load the SDK into every process, traced
 * or not, and an `import()` would resolve after the entry point has loaded what must be instrumented.
 */
export function loadWhenTracing<T>(id: string): T {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- synchronous on purpose: see above
  return require(id) as T;
}

/** The ratio of a `traceidratio` sampler: `OTEL_TRACES_SAMPLER_ARG` when it is one from 0 to 1, else 1 (all). */
function ratio(env: NodeJS.ProcessEnv): number {
  const value = Number(env.OTEL_TRACES_SAMPLER_ARG?.trim() || Number.NaN);
  return Number.isFinite(value) && value >= 0 && value <= 1 ? value : 1;
}

/** A whole number from the environment, undefined when unset or not a number (OpenTelemetry's own reading). */
function count(env: NodeJS.ProcessEnv, ...names: string[]): number | undefined {
  for (const name of names) {
    const value = env[name]?.trim();
    if (value && Number.isFinite(Number(value))) return Number(value);
  }
  return undefined;
}

const defined = <T extends object>(entries: T): Partial<T> =>
  Object.fromEntries(Object.entries(entries).filter(([, value]) => value !== undefined)) as Partial<T>;

/**
 * What the trace SDK is built with, from the standard variables as OpenTelemetry's SDK 2 read them: the
 * sampler (`OTEL_TRACES_SAMPLER`, default `parentbased_always_on`; an unknown name falls back to it, a
 * ratio outside 0–1 to 1), the batch processor (`OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_EXPORT_TIMEOUT`,
 * `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`) and the span limits (`OTEL_SPAN_*_LIMIT`,
 * `OTEL_ATTRIBUTE_*_LIMIT`, `OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT`, `OTEL_LINK_ATTRIBUTE_COUNT_LIMIT`).
 */
export function traceSdkOptions(
  sdk: Pick<typeof SdkTrace, 'AlwaysOnSampler' | 'AlwaysOffSampler' | 'TraceIdRatioBasedSampler' | 'ParentBasedSampler'>,
  env: NodeJS.ProcessEnv = process.env,
): { sampler: Sampler; batch: Omit<BatchSpanProcessorOptions, 'exporter'>; spanLimits: SpanLimits } {
  const { AlwaysOnSampler, AlwaysOffSampler, TraceIdRatioBasedSampler, ParentBasedSampler } = sdk;
  const samplers: Record<(typeof TRACE_SAMPLERS)[number], () => Sampler> = {
    always_on: () => new AlwaysOnSampler(),
    always_off: () => new AlwaysOffSampler(),
    traceidratio: () => new TraceIdRatioBasedSampler(ratio(env)),
    parentbased_always_on: () => new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    parentbased_always_off: () => new ParentBasedSampler({ root: new AlwaysOffSampler() }),
    parentbased_traceidratio: () => new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio(env)) }),
  };
  const name = env.OTEL_TRACES_SAMPLER?.trim().toLowerCase() ?? '';
  const sampler = Object.hasOwn(samplers, name) ? samplers[name as keyof typeof samplers] : samplers.parentbased_always_on;
  return {
    sampler: sampler(),
    batch: defined({
      scheduledDelayMillis: count(env, 'OTEL_BSP_SCHEDULE_DELAY'),
      exportTimeoutMillis: count(env, 'OTEL_BSP_EXPORT_TIMEOUT'),
      maxQueueSize: count(env, 'OTEL_BSP_MAX_QUEUE_SIZE'),
      maxExportBatchSize: count(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE'),
    }),
    spanLimits: defined({
      attributeValueLengthLimit: count(env, 'OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT', 'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT'),
      attributeCountLimit: count(env, 'OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT', 'OTEL_ATTRIBUTE_COUNT_LIMIT'),
      linkCountLimit: count(env, 'OTEL_SPAN_LINK_COUNT_LIMIT'),
      eventCountLimit: count(env, 'OTEL_SPAN_EVENT_COUNT_LIMIT'),
      attributePerEventCountLimit: count(env, 'OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT'),
      attributePerLinkCountLimit: count(env, 'OTEL_LINK_ATTRIBUTE_COUNT_LIMIT'),
    }),
  };
}

/**
 * Said, as an error, at every start of a gateway with tracing on by Apollo Gateway's usage report to Apollo
 * (APOLLO_TELEMETRY_DISABLED), whose meter reads its resource while its cloud detection is under way:
 * nothing about this process's traces.
 */
const NOT_ABOUT_TRACES = new Set(['Accessing resource attributes before async attributes settled']);

/**
 * OpenTelemetry's own warnings and errors (an export that failed: the collector down, slow or refusing)
 * as the process's log lines, at most one every 30 s with how many were left out: without a logger of its
 * own the SDK drops them, and traces went missing for minutes without a word or a metric.
 */
export function diagnosticsLog(logger: Logger): Api.DiagLogger {
  const throttled = logThrottle(30_000);
  const line =
    (level: 'warn' | 'error') =>
    (message: string, ...args: unknown[]) =>
      NOT_ABOUT_TRACES.has(message) ||
      throttled(level, (suppressed) =>
        logger[level](
          { ...(args[0] instanceof Error ? { err: args[0] } : args.length ? { detail: String(args[0]) } : {}), suppressed },
          `OpenTelemetry: ${message}`,
        ),
      );
  const ignore = () => undefined;
  return { error: line('error'), warn: line('warn'), info: ignore, debug: ignore, verbose: ignore };
}

/**
 * Starts tracing for `serviceName` (the `service.name` of its spans, unless OTEL_SERVICE_NAME says
 * otherwise), with `extra` instrumentations besides the common ones, when the environment asks for it;
 * the SDK's failures are logged to `logDestination` (standard output).
 */
export function startTracing(
  serviceName: string,
  extra: () => Instrumentation[] = () => [],
  env: NodeJS.ProcessEnv = process.env,
  logDestination?: LogDestination,
): Tracing | undefined {
  if (!tracingEnabled(env)) return undefined;
  const { context, diag, DiagLogLevel, propagation, trace } = loadWhenTracing<typeof Api>('@opentelemetry/api');
  diag.setLogger(diagnosticsLog(createLogger(serviceName, 'warn', logDestination)), { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
  const { AsyncLocalStorageContextManager } = loadWhenTracing<typeof ContextAsyncHooks>('@opentelemetry/context-async-hooks');
  const { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } = loadWhenTracing<typeof Core>('@opentelemetry/core');
  const sdk = loadWhenTracing<typeof SdkTrace>('@opentelemetry/sdk-trace');
  const { OTLPTraceExporter } = loadWhenTracing<typeof OtlpHttp>('@opentelemetry/exporter-trace-otlp-http');
  const { resourceFromAttributes, defaultResource, envDetector, detectResources } = loadWhenTracing<typeof Resources>('@opentelemetry/resources');
  const { registerInstrumentations } = loadWhenTracing<typeof InstrumentationApi>('@opentelemetry/instrumentation');
  const { HttpInstrumentation } = loadWhenTracing<typeof HttpModule>('@opentelemetry/instrumentation-http');
  const { ExpressInstrumentation } = loadWhenTracing<typeof ExpressModule>('@opentelemetry/instrumentation-express');
  const { GraphQLInstrumentation } = loadWhenTracing<typeof GraphQLModule>('@opentelemetry/instrumentation-graphql');
  const { UndiciInstrumentation } = loadWhenTracing<typeof UndiciModule>('@opentelemetry/instrumentation-undici');

  const resource = defaultResource()
    .merge(resourceFromAttributes({ 'service.name': serviceName, 'service.namespace': 'fedstack' }))
    // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win.
    .merge(detectResources({ detectors: [envDetector] }));
  const { sampler, batch, spanLimits } = traceSdkOptions(sdk, env);
  const provider = new sdk.TracerProvider({
    resource,
    sampler,
    spanLimits,
    spanProcessors: [new sdk.BatchSpanProcessor({ ...batch, exporter: new OTLPTraceExporter() })],
  });
  // What SDK 2's NodeTracerProvider.register() did: context through async calls, W3C trace context and
  // baggage in and out, and this provider behind the API.
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
  trace.setGlobalTracerProvider(provider);
  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new HttpInstrumentation({
        // Health checks and scrapes would be most of the spans and say nothing.
        ignoreIncomingRequestHook: (request) => /^\/(healthz|readyz|metrics)\b/.test(request.url ?? ''),
        // The library redacts only parameters it knows by name; what the hook answers replaces its `url.query`.
        startIncomingSpanHook: (request) => {
          const query = redactedQuery(request.url ?? '');
          return query === undefined ? {} : { 'url.query': query };
        },
      }),
      new ExpressInstrumentation(),
      new GraphQLInstrumentation({ mergeItems: true, ignoreTrivialResolveSpans: true }),
      new UndiciInstrumentation(),
      ...extra(),
    ],
  });
  return { shutdown: () => provider.shutdown() };
}
