// Tracing for a subgraph process (runtime's tracing, which says when it is on), with a span for every
// SQL statement its pool sends. Imported first by the entry point, before anything it instruments.
import type * as PgModule from '@opentelemetry/instrumentation-pg';
import { loadWhenTracing, startTracing, type Tracing } from '@fedstack/runtime/tracing';

export function startSubgraphTracing(service: string): Tracing | undefined {
  return startTracing(service, () => {
    const { PgInstrumentation } = loadWhenTracing<typeof PgModule>('@opentelemetry/instrumentation-pg');
    return [new PgInstrumentation({ requireParentSpan: true })];
  });
}
