// The headers the gateway passes on to subgraphs, and the WAL positions it carries between them and the client.
import type { ApolloServerPlugin } from '@apollo/server';
import type { FetcherHeaders } from '@apollo/utils.fetcher';
import { OPERATION_LISTED_HEADER, WAL_POSITIONS_HEADER, type WalPositions } from '@fedstack/runtime';

/** What the gateway knows about the request it is serving, forwarded to every subgraph call. */
export interface GatewayContext {
  requestId: string;
  authorization: string | undefined;
  clientAddress: string | undefined;
  userAgent: string | undefined;
  /**
   * Where each service's primary was after the client's writes, as its last answer gave them, and after
   * this request's: each subgraph call carries its service's, and the answer returns them all
   * (read-your-writes, docs/adr/0012-read-replicas.md). Absent for a subscription's events.
   */
  positions?: WalPositions;
  /** The client's operation is one the persisted manifest lists (its metric labels are kept, here and at each subgraph). */
  operationListed?: boolean;
}

/**
 * Passes the caller's credentials, the request id (for logs on both sides), the client's address (for
 * the subgraphs' throttling), user agent (which auth records with a sign-in) and, to `subgraph`, its
 * service's WAL position to a subgraph call, and whether the operation is a listed one. Nothing else of
 * the client's request goes through.
 */
export function propagateHeaders(headers: FetcherHeaders, context: Partial<GatewayContext>, subgraph?: string): void {
  if (context.requestId) headers.set('x-request-id', context.requestId);
  if (context.authorization) headers.set('authorization', context.authorization);
  if (context.clientAddress) headers.set('x-forwarded-for', context.clientAddress);
  if (context.userAgent) headers.set('user-agent', context.userAgent);
  const position = subgraph === undefined ? undefined : context.positions?.toHeader(subgraph);
  if (position) headers.set(WAL_POSITIONS_HEADER, position);
  if (context.operationListed) headers.set(OPERATION_LISTED_HEADER, '1');
}

/** Notes whether the operation is one the manifest lists (`listed`), for the subgraph calls to say so. */
export function listedOperationPlugin(listed: (name: string) => boolean): ApolloServerPlugin<Pick<GatewayContext, 'operationListed'>> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operationName, contextValue }) {
          contextValue.operationListed = operationName !== null && listed(operationName);
        },
      };
    },
  };
}

/** Returns the client every position its request carried or its writes reached, for it to send with its next request. */
export function positionsPlugin(): ApolloServerPlugin<Pick<GatewayContext, 'positions'>> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ contextValue, response }) {
          const header = contextValue.positions?.toHeader();
          if (header) response.http.headers.set(WAL_POSITIONS_HEADER, header);
        },
      };
    },
  };
}
