// What a subgraph's clients are told while it cannot reach its database.
import { AppError, ErrorCode, type ErrorTranslator, type Service } from '@fedstack/runtime';
import { isDatabaseUnavailable, isStatementCancelled } from '@fedstack/shared-db';

/**
 * SUBGRAPH_UNAVAILABLE naming the service for an error that means its database cannot be reached or
 * the connection to it broke (a restart, a failover), at once rather than after a timeout, or that the
 * server cancelled the statement (a timeout, an operator), which is no fault of the service's: the
 * client may ask again. Undefined for any other error. `extensions` are added (an HTTP status
 * for Apollo Server, which it takes out of the answer).
 */
export function databaseOutage(service: Service, extensions: Record<string, unknown> = {}): ErrorTranslator {
  return (error) => {
    const message = isDatabaseUnavailable(error)
      ? `The ${service} service cannot reach its database at the moment; try again shortly`
      : isStatementCancelled(error)
        ? `The ${service} service's database cancelled the statement (a timeout, or an operator), and nothing of it was done; try again`
        : undefined;
    if (!message) return undefined;
    const outage = new AppError(ErrorCode.SUBGRAPH_UNAVAILABLE, message, { ...extensions, serviceName: service });
    // The database's own error, for whoever logs this one (a client is shown the message alone).
    outage.cause = error;
    return outage;
  };
}
