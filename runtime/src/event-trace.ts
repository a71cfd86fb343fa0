// Tracing across a subscription: its start from the gateway into the subgraph, and each event from the subgraph's commit through the gateway.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, propagation, trace, type Context, type Span } from '@opentelemetry/api';

/**
 * A subscription event crosses two processes without a request to carry a trace: the subgraph starts a
 * span for it (from the moment its change committed), runs the event under it, and sends its W3C
 * `traceparent` in the result's extensions; the gateway runs the rest of the plan (its entity fetches,
 * whose HTTP spans nest under it) in a span of its own under that one. With tracing off (no provider
 * registered) every call here is OpenTelemetry's no-op.
 */
const tracer = trace.getTracer('fedstack-subscriptions');

/** The context a span begun now is a child of: the `traceparent` given, or else `otherwise`. */
const parentOf = (traceparent: string | undefined, otherwise: Context): Context => (traceparent ? propagation.extract(otherwise, { traceparent }) : otherwise);

/**
 * Runs `work` in a new span named `name`, started at `startTime`: a child of the `traceparent` given, or
 * else the root of a trace of its own, whatever runs around it (an event is caused by its commit, not by
 * the subscription's start that may have heard it, nor by the connection it came on).
 */
export async function inEventSpan<T>(
  name: string,
  options: { traceparent?: string; startTime?: number; attributes?: Record<string, string> },
  work: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(
    name,
    { ...(options.startTime === undefined ? {} : { startTime: options.startTime }), ...(options.attributes ? { attributes: options.attributes } : {}) },
    parentOf(options.traceparent, ROOT_CONTEXT),
    async (span) => {
      try {
        return await work(span);
      } finally {
        span.end();
      }
    },
  );
}

/** The `traceparent` of the active span, to send along with an event; undefined when tracing is off. */
export function currentTraceparent(): string | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent;
}

/** A span begun by `beginSpan`: work `run` in it is traced under it; `end` ends it, failed with a reason if given. */
export interface OpenSpan {
  run<T>(work: () => T): T;
  end(failure?: string): void;
}

/**
 * Begins a span named `name`, a child of the `traceparent` given or else of the active span, for work
 * that starts in one call and finishes in another (a subscription's start: its subscribe message is
 * prepared, then run): what runs in `run` (SQL, outgoing calls, `currentTraceparent()`) is traced under it.
 * `server` when it is where a call from another process is taken in.
 */
export function beginSpan(name: string, options: { traceparent?: string; server?: boolean; attributes?: Record<string, string> }): OpenSpan {
  const parent = parentOf(options.traceparent, context.active());
  const span = tracer.startSpan(
    name,
    { kind: options.server ? SpanKind.SERVER : SpanKind.INTERNAL, ...(options.attributes ? { attributes: options.attributes } : {}) },
    parent,
  );
  const active = trace.setSpan(parent, span);
  return {
    run: (work) => context.with(active, work),
    end(failure) {
      if (failure !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: failure });
      span.end();
    },
  };
}
