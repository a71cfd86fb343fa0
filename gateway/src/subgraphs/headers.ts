// The headers the gateway passes on to subgraphs, and the WAL positions it carries between them and the client.
import type { ApolloServerPlugin } from '@apollo/server';
import type { FetcherHeaders } from '@apollo/utils.fetcher';
import { WAL_POSITIONS_HEADER, type WalPositions } from '@fedstack/runtime';

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
}

/**
 * Passes the caller's credentials, the request id (for logs on both sides), the client's address (for
 * the subgraphs' throttling), user agent (which auth records with a sign-in) and, to `subgraph`, its
 * service's WAL position to a subgraph call. Nothing else of the client's request goes through.
 */
export function propagateHeaders(headers: FetcherHeaders, context: Partial<GatewayContext>, subgraph?: string): void {
  if (context.requestId) headers.set('x-request-id', context.requestId);
  if (context.authorization) headers.set('authorization', context.authorization);
  if (context.clientAddress) headers.set('x-forwarded-for', context.clientAddress);
  if (context.userAgent) headers.set('user-agent', context.userAgent);
  const position = subgraph === undefined ? undefined : context.positions?.toHeader(subgraph);
  if (position) headers.set(WAL_POSITIONS_HEADER, position);
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
