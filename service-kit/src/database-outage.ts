// What a subgraph's clients are told while it cannot reach its database.
import { AppError, ErrorCode, type ErrorTranslator, type Service } from '@fedstack/runtime';
import { isDatabaseUnavailable } from '@fedstack/shared-db';

/**
 * SUBGRAPH_UNAVAILABLE naming the service for an error that means its database cannot be reached or
 * the connection to it broke (a restart, a failover), at once rather than after a timeout: the client
 * may ask again once it is back. Undefined for any other error. `extensions` are added (an HTTP status
 * for Apollo Server, which it takes out of the answer).
 */
export function databaseOutage(service: Service, extensions: Record<string, unknown> = {}): ErrorTranslator {
  return (error) => {
    if (!isDatabaseUnavailable(error)) return undefined;
    const outage = new AppError(ErrorCode.SUBGRAPH_UNAVAILABLE, `The ${service} service cannot reach its database at the moment; try again shortly`, {
      ...extensions,
      serviceName: service,
    });
    // The database's own error, for whoever logs this one (a client is shown the message alone).
    outage.cause = error;
    return outage;
  };
}
