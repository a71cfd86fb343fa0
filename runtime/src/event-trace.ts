// Tracing across a subscription event: the subgraph's span for an event starts at its commit, and the gateway's continues it.
import { context, propagation, trace, type Span } from '@opentelemetry/api';

/**
 * A subscription event crosses two processes without a request to carry a trace: the subgraph starts a
 * span for it (from the moment its change committed), runs the event under it, and sends its W3C
 * `traceparent` in the result's extensions; the gateway runs the rest of the plan (its entity fetches,
 * whose HTTP spans nest under it) in a span of its own under that one. With tracing off (no provider
 * registered) every call here is OpenTelemetry's no-op.
 */
const tracer = trace.getTracer('fedstack-subscriptions');

/** Runs `work` in a new span named `name` (a child of the `traceparent` given, if any), started at `startTime`. */
export async function inEventSpan<T>(
  name: string,
  options: { traceparent?: string; startTime?: number; attributes?: Record<string, string> },
  work: (span: Span) => Promise<T>,
): Promise<T> {
  const parent = options.traceparent ? propagation.extract(context.active(), { traceparent: options.traceparent }) : context.active();
  return tracer.startActiveSpan(
    name,
    { ...(options.startTime === undefined ? {} : { startTime: options.startTime }), ...(options.attributes ? { attributes: options.attributes } : {}) },
    parent,
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
