// What Apollo Gateway finds as it shapes a result (a null where the schema allows none) goes among the result's errors, not in its extensions.
import type { GatewayInterface } from '@apollo/server-gateway-interface';
import type { ExecutionResult, GraphQLError } from 'graphql';

/**
 * `result` with what shaping it found (Apollo Gateway's `extensions.valueCompletion`: a null where the
 * schema allows none, an entity a subgraph did not find) among its errors, to be formatted (masked in
 * production) and counted as any error is. Left in `extensions`, it went out as it was, naming schema
 * types and internal codes in production, while `errors` said nothing of why the data was missing.
 */
export function withShapingErrors(result: ExecutionResult): ExecutionResult {
  const { valueCompletion, ...extensions } = result.extensions ?? {};
  if (!Array.isArray(valueCompletion)) return result;
  const { extensions: _shaping, ...rest } = result;
  return {
    ...rest,
    errors: [...(result.errors ?? []), ...(valueCompletion as GraphQLError[])],
    ...(Object.keys(extensions).length > 0 ? { extensions } : {}),
  };
}

/** Apollo Gateway whose every result has what shaping found among its errors (withShapingErrors). */
export function shapingErrorsAsErrors(gateway: GatewayInterface): GatewayInterface {
  return {
    onSchemaLoadOrUpdate: (callback) => gateway.onSchemaLoadOrUpdate(callback),
    stop: () => gateway.stop(),
    async load(options) {
      const loaded = await gateway.load(options);
      const { executor } = loaded;
      return { ...loaded, executor: executor && (async (requestContext) => withShapingErrors(await executor(requestContext))) };
    },
  };
}
