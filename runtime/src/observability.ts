// What every GraphQL server records of each request: its metrics and log lines, those of a request that failed before it ran included.
import type { ApolloServerPlugin } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError } from 'graphql';
import { ErrorCode, isClientSafe, type ErrorTranslator } from './errors';
import { logThrottle } from './log-throttle';
import type { Logger } from './logger';
import { MAX_OPERATION_NAME_LENGTH, OPERATION_LISTED_HEADER, type ServiceMetrics } from './metrics';

/** The code a client is told for `error` (what `translate` makes of it, its own if client-safe, else INTERNAL_SERVER_ERROR), and whether it is ours to explain. */
function clientCode(error: unknown, translate: ErrorTranslator | undefined): { code: string; internal: boolean } {
  // A recognised error is counted as what the client is told, and is no internal error.
  const known = translate?.(error);
  const safe = known !== undefined || isClientSafe(error);
  const given = known?.code ?? (error instanceof GraphQLError ? error.extensions.code : undefined);
  return safe && typeof given === 'string' ? { code: given, internal: false } : { code: ErrorCode.INTERNAL_SERVER_ERROR, internal: true };
}

/** Codes that say the server failed, not the request: what `outcome="failed"` counts (HighErrorRate alerts on its share). */
const SERVER_FAILURES: ReadonlySet<string> = new Set([ErrorCode.INTERNAL_SERVER_ERROR, ErrorCode.SUBGRAPH_UNAVAILABLE]);

/**
 * An operation's outcome, for `graphql_requests_total`: `failed` when any of its errors is the server's,
 * `error` when all are the client's (bad input, refused), `ok` with none. Per operation, where
 * `graphql_errors_total` counts errors: one list whose items each failed is one failed operation.
 */
const outcomeOf = (codes: string[]) => (codes.some((code) => SERVER_FAILURES.has(code)) ? 'failed' : codes.length ? 'error' : 'ok');

/** An operation name as logged: a client's, so cut to a length no app's name reaches (the metrics' label limit, twice over). */
const logged = (name: string | null | undefined) => name?.slice(0, 2 * MAX_OPERATION_NAME_LENGTH);

/** What a request whose context could not be built is known by: Apollo's hook for it is told the error alone. */
const failedRequests = new WeakMap<object, { logger: Logger; operationName: string | undefined }>();

/**
 * Notes which request a context function failed for (its logger carries the request id), for the log line
 * `contextCreationDidFail` writes; call it with what the context function threw, then throw that again.
 */
export function contextFailed(error: unknown, request: { logger: Logger; body: unknown }): void {
  if (typeof error !== 'object' || error === null) return;
  const asked = (request.body as { operationName?: unknown } | undefined)?.operationName;
  failedRequests.set(error, { logger: request.logger, operationName: typeof asked === 'string' ? logged(asked) : undefined });
}

/**
 * Metrics and a log line for every operation, the real error behind every masked one, and a request that
 * failed while its context was built (an account lookup whose database refused the connection): Apollo runs
 * no request hook for that one, so it is logged and counted here, or it would leave no trace at all.
 */
export function observabilityPlugin(metrics: ServiceMetrics, translate: ErrorTranslator | undefined, logger: Logger): ApolloServerPlugin<{ logger: Logger }> {
  const outages = logThrottle();
  return {
    async contextCreationDidFail({ error }) {
      const { code } = clientCode(error, translate);
      const request = failedRequests.get(error);
      // A request that failed as a whole (the database away) at error, `err` saying why with its cause; a
      // client's mistake found there (a malformed header) at info, as the operation's own line would be: a
      // client sending it on every request must not fill the log with errors. Its operation's name is the
      // request body's, which nothing has checked: it names no metric's label, which a client could use up.
      const failed = SERVER_FAILURES.has(code);
      metrics.errors.inc({ code });
      metrics.requests.inc({ operation: metrics.operationLabel(failed ? request?.operationName : undefined), outcome: outcomeOf([code]) });
      const line = (suppressed: number) =>
        (request?.logger ?? logger)[failed ? 'error' : 'info'](
          { err: error, code, operationName: request?.operationName, ...(suppressed ? { suppressed } : {}) },
          'request failed before it ran: its context could not be built',
        );
      // An outage fails every request alike (and the service has said it lost its database): one line
      // every few seconds, saying how many it left out, rather than an error with a stack per request.
      if (code === String(ErrorCode.SUBGRAPH_UNAVAILABLE)) outages(code, line);
      else line(0);
    },
    async requestDidStart({ contextValue }) {
      const started = performance.now();
      const codes: string[] = [];
      return {
        async didEncounterErrors({ errors, operationName }) {
          // A subgraph's internal error reaches the gateway already masked (`extensions.serviceName` names the
          // subgraph), so it is client-safe there, and nothing on this side logged it: counted by subgraph here.
          const forwarded = new Map<string, number>();
          for (const error of errors) {
            const { code, internal } = clientCode(error, translate);
            codes.push(code);
            metrics.errors.inc({ code });
            // Not every error here is a GraphQLError (Apollo Gateway passes on what a data source's hook threw
            // as it came): such an error is internal, and only a client-safe one is read for its subgraph.
            if (internal) {
              contextValue.logger.error(
                { err: unwrapResolverError(error), path: error.path, operationName: logged(operationName) },
                'internal error while resolving an operation',
              );
            } else if (error.extensions.code === ErrorCode.INTERNAL_SERVER_ERROR && typeof error.extensions.serviceName === 'string') {
              forwarded.set(error.extensions.serviceName, (forwarded.get(error.extensions.serviceName) ?? 0) + 1);
            }
          }
          // One warning per subgraph per request, however many of its errors, for the operator to look in that
          // subgraph's log under the same request id, where it logged the cause.
          for (const [subgraph, count] of forwarded) {
            contextValue.logger.warn(
              { subgraph, errors: count, operationName: logged(operationName) },
              'a subgraph answered INTERNAL_SERVER_ERROR; its log has the cause under this request id',
            );
          }
        },
        async willSendResponse({ operationName, request }) {
          const durationMs = performance.now() - started;
          const operation = metrics.operationLabel(operationName, request.http?.headers.get(OPERATION_LISTED_HEADER));
          metrics.requests.inc({ operation, outcome: outcomeOf(codes) });
          metrics.requestDuration.observe({ operation }, durationMs / 1000);
          contextValue.logger.info(
            { operationName: logged(operationName), durationMs: Math.round(durationMs * 10) / 10, ...(codes.length ? { errorCodes: codes } : {}) },
            'graphql operation',
          );
        },
      };
    },
  };
}
