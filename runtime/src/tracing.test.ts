import { diag } from '@opentelemetry/api';
import * as sdk from '@opentelemetry/sdk-trace';
import { createLogger } from './logger';
import { freePort } from './net';
import { diagnosticsLog, redactedQuery, startTracing, traceSdkOptions, tracingEnabled } from './tracing';

describe('tracing', () => {
  it('is on once an OTLP endpoint is set, unless OTEL_SDK_DISABLED says otherwise', () => {
    expect(tracingEnabled({})).toBe(false);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' })).toBe(true);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'TRUE' })).toBe(false);
  });

  // The trace SDK 3 reads none of these itself: these are the readings SDK 2 made, which the README promises.
  describe('the SDK options from the standard variables', () => {
    const sampler = (env: NodeJS.ProcessEnv) => traceSdkOptions(sdk, env).sampler.toString();

    it('samples as the caller decided, and every root, when nothing is set', () => {
      expect(sampler({})).toBe(new sdk.ParentBasedSampler({ root: new sdk.AlwaysOnSampler() }).toString());
      expect(sampler({})).toMatch(/^ParentBased\{root=AlwaysOnSampler/);
    });

    it('takes each standard sampler, with its ratio', () => {
      expect(sampler({ OTEL_TRACES_SAMPLER: 'always_on' })).toBe('AlwaysOnSampler');
      expect(sampler({ OTEL_TRACES_SAMPLER: 'always_off' })).toBe('AlwaysOffSampler');
      expect(sampler({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' })).toBe('TraceIdRatioBased{0.25}');
      expect(sampler({ OTEL_TRACES_SAMPLER: 'parentbased_always_off' })).toMatch(/^ParentBased\{root=AlwaysOffSampler/);
      expect(sampler({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' })).toMatch(
        /^ParentBased\{root=TraceIdRatioBased\{0\.1\}/,
      );
    });

    it('falls back as OpenTelemetry does: an unknown sampler to the default, a ratio outside 0–1 or none to 1', () => {
      expect(sampler({ OTEL_TRACES_SAMPLER: 'jaeger_remote' })).toBe(sampler({}));
      expect(sampler({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' })).toBe('TraceIdRatioBased{1}');
      expect(sampler({ OTEL_TRACES_SAMPLER: 'traceidratio' })).toBe('TraceIdRatioBased{1}');
    });

    it("reads the batch processor's and the span limits' variables, leaving the SDK's defaults for the rest", () => {
      expect(traceSdkOptions(sdk, {})).toMatchObject({ batch: {}, spanLimits: {} });
      const options = traceSdkOptions(sdk, {
        OTEL_BSP_SCHEDULE_DELAY: '200',
        OTEL_BSP_EXPORT_TIMEOUT: '1000',
        OTEL_BSP_MAX_QUEUE_SIZE: '4096',
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE: 'many',
        OTEL_ATTRIBUTE_COUNT_LIMIT: '64',
        OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '100',
        OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: '200',
        OTEL_SPAN_EVENT_COUNT_LIMIT: '10',
      });
      expect(options.batch).toEqual({ scheduledDelayMillis: 200, exportTimeoutMillis: 1000, maxQueueSize: 4096 });
      expect(options.spanLimits).toEqual({ attributeCountLimit: 64, attributeValueLengthLimit: 200, eventCountLimit: 10 });
    });
  });
});

describe("an incoming request's query string in its server span", () => {
  it('keeps only the operation name: every other value, known or not, is replaced, repeated ones too', () => {
    expect(redactedQuery('/graphql?query=%7Bme%7D&operationName=Me&token=abc&x=1&x=2')).toBe(
      'query=REDACTED&operationName=Me&token=REDACTED&x=REDACTED&x=REDACTED',
    );
    expect(redactedQuery('/graphql?')).toBe('');
    expect(redactedQuery('/graphql')).toBeUndefined();
  });
});

describe("the SDK's own failures", () => {
  it("are logged once tracing starts (the SDK's export failures go to its diagnostic logger, which had none: they were dropped without a word)", async () => {
    const lines: Record<string, unknown>[] = [];
    const destination = { write: (chunk: string) => void lines.push(JSON.parse(chunk) as Record<string, unknown>) };
    const tracing = startTracing('test', () => [], { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${await freePort()}` }, destination);
    try {
      diag.error('Export failed', new Error('connect ECONNREFUSED'));
      expect(lines).toEqual([
        expect.objectContaining({
          level: 'error',
          service: 'test',
          msg: 'OpenTelemetry: Export failed',
          err: expect.objectContaining({ message: 'connect ECONNREFUSED' }),
        }),
      ]);
    } finally {
      await tracing?.shutdown();
      diag.disable();
    }
  });

  it('are throttled: one line per 30 s, saying how many were left out', () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger('test', 'warn', { write: (chunk: string) => void lines.push(JSON.parse(chunk) as Record<string, unknown>) });
    const log = diagnosticsLog(logger);
    // Apollo Gateway's usage report's, at every start: not about traces, not logged.
    log.error('Accessing resource attributes before async attributes settled');
    for (let n = 0; n < 5; n += 1) log.error('export failed', new Error(`refused ${n}`));
    log.info('ignored');
    expect(lines).toEqual([
      expect.objectContaining({ msg: 'OpenTelemetry: export failed', err: expect.objectContaining({ message: 'refused 0' }), suppressed: 0 }),
    ]);
  });
});
