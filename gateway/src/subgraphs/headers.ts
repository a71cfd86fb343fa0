// The headers the gateway passes on to subgraphs.
import type { FetcherHeaders } from '@apollo/utils.fetcher';

/** What the gateway knows about the request it is serving, forwarded to every subgraph call. */
export interface GatewayContext {
  requestId: string;
  authorization: string | undefined;
  clientAddress: string | undefined;
  userAgent: string | undefined;
}

/**
 * Passes the caller's credentials, the request id (for logs on both sides), the client's address (for
 * the subgraphs' throttling) and user agent (which auth records with a sign-in) to a subgraph call.
 * Nothing else of the client's request goes through.
 */
export function propagateHeaders(headers: FetcherHeaders, context: Partial<GatewayContext>): void {
  if (context.requestId) headers.set('x-request-id', context.requestId);
  if (context.authorization) headers.set('authorization', context.authorization);
  if (context.clientAddress) headers.set('x-forwarded-for', context.clientAddress);
  if (context.userAgent) headers.set('user-agent', context.userAgent);
}
