import type * as PgModule from '@opentelemetry/instrumentation-pg';
import { startTracing, type Tracing } from '@fedstack/runtime/tracing';

/**
 * Tracing for a subgraph process (runtime's tracing, which says when it is on), with a span for every
 * SQL statement its pool sends. Imported first by the entry point, before anything it instruments.
 */
export function startSubgraphTracing(service: string): Tracing | undefined {
  return startTracing(service, () => {
    // Loaded only when tracing is on (runtime's tracing explains why synchronously).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { PgInstrumentation } = require('@opentelemetry/instrumentation-pg') as typeof PgModule;
    return [new PgInstrumentation({ requireParentSpan: true })];
  });
}
