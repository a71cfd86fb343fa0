import type { GraphQLRequestContext, GraphQLRequestListener } from '@apollo/server';
import type { GraphQLError } from 'graphql';
import { createLogger } from './logger';
import { ServiceMetrics } from './metrics';
import { observabilityPlugin } from './observability';

describe('the observability plugin', () => {
  it('counts and logs, as internal, an error that is not a GraphQLError (Apollo Gateway passes on what a data source hook threw)', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger('gateway', 'info', { write: (chunk: string) => void lines.push(JSON.parse(chunk) as Record<string, unknown>) });
    const metrics = new ServiceMetrics({ service: 'gateway' });
    const plugin = observabilityPlugin(metrics, undefined, logger);
    type Context = GraphQLRequestContext<{ logger: typeof logger }>;
    const listener = (await plugin.requestDidStart?.({ contextValue: { logger } } as Context)) as GraphQLRequestListener<{ logger: typeof logger }>;
    const raw = new TypeError('Invalid character in header content ["authorization"]') as unknown as GraphQLError;
    await listener.didEncounterErrors?.({ errors: [raw], operationName: 'Q' } as unknown as Parameters<NonNullable<typeof listener.didEncounterErrors>>[0]);
    expect(lines).toEqual([expect.objectContaining({ level: 'error', msg: 'internal error while resolving an operation', operationName: 'Q' })]);
    expect(await metrics.registry.metrics()).toMatch(/^graphql_errors_total\{code="INTERNAL_SERVER_ERROR",service="gateway"\} 1$/m);
  });
});
