import type { Instrumentation } from '@opentelemetry/instrumentation';
import type * as SdkTraceNode from '@opentelemetry/sdk-trace-node';
import type * as OtlpHttp from '@opentelemetry/exporter-trace-otlp-http';
import type * as Resources from '@opentelemetry/resources';
import type * as InstrumentationApi from '@opentelemetry/instrumentation';
import type * as HttpModule from '@opentelemetry/instrumentation-http';
import type * as ExpressModule from '@opentelemetry/instrumentation-express';
import type * as GraphQLModule from '@opentelemetry/instrumentation-graphql';
import type * as UndiciModule from '@opentelemetry/instrumentation-undici';

/**
 * OpenTelemetry tracing for one process: off unless an OTLP endpoint is configured the standard way
 * (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`; `OTEL_SDK_DISABLED=true` turns
 * it off again). The rest is read by OpenTelemetry itself from the standard variables: headers, sampling
 * (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`), batching, resource attributes.
 *
 * Spans: HTTP in and out (W3C `traceparent` carried across), Express, GraphQL (parse, validate, execute,
 * resolvers), undici (the gateway's subgraph calls, the services' internal calls) and what a process adds
 * (PostgreSQL statements, in the subgraphs). Apollo Gateway adds its own (plan, fetch) once a provider is
 * registered.
 *
 * It must run before the modules it instruments are loaded: each entry point imports its tracing module
 * first. Off, it loads nothing of the SDK.
 */
export interface Tracing {
  /** Sends the spans still buffered; call when the process stops. */
  shutdown(): Promise<void>;
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

/**
 * Starts tracing for `serviceName` (the `service.name` of its spans, unless OTEL_SERVICE_NAME says
 * otherwise), with `extra` instrumentations besides the common ones, when the environment asks for it.
 */
export function startTracing(serviceName: string, extra: () => Instrumentation[] = () => [], env: NodeJS.ProcessEnv = process.env): Tracing | undefined {
  if (!tracingEnabled(env)) return undefined;
  const { NodeTracerProvider, BatchSpanProcessor } = loadWhenTracing<typeof SdkTraceNode>('@opentelemetry/sdk-trace-node');
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
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())] });
  provider.register();
  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new HttpInstrumentation({
        // Health checks and scrapes would be most of the spans and say nothing.
        ignoreIncomingRequestHook: (request) => /^\/(healthz|readyz|metrics)\b/.test(request.url ?? ''),
      }),
      new ExpressInstrumentation(),
      new GraphQLInstrumentation({ mergeItems: true, ignoreTrivialResolveSpans: true }),
      new UndiciInstrumentation(),
      ...extra(),
    ],
  });
  return { shutdown: () => provider.shutdown() };
}
