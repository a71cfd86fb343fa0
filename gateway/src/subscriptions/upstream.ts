// The gateway's subscriptions to subgraphs: one graphql-ws connection per subgraph, carrying every client's subscription to it.
import { createClient, type Client, type Sink } from 'graphql-ws';
import WebSocket from 'ws';
import type { FormattedExecutionResult } from 'graphql';
import { GATEWAY_ASSERTION_HEADER, type Logger } from '@fedstack/runtime';

/**
 * A subgraph that owns a subscription's root field is subscribed to over GraphQL over WebSocket
 * (graphql-ws, the protocol Apollo Router and Hive Gateway use to subgraphs too), at its GraphQL URL with
 * `ws:`. The connection proves it is the gateway's with the gateway's assertion in `connection_init`;
 * each subscription carries its client's own headers (the access token, the request id) in
 * `extensions.headers`, which the subgraph checks as it would for a request. The connection is made on
 * the first subscription and closed a moment after the last.
 *
 * If the connection is lost (the subgraph restarted, say), every subscription on it ends with an error the
 * client can act on (SUBGRAPH_UNAVAILABLE: subscribe again) rather than being resubscribed behind its
 * back: events committed while nobody listened would otherwise be missed silently.
 */
export interface UpstreamSubscription {
  subgraph: string;
  query: string;
  variables: Record<string, unknown>;
  /** The client's headers the subgraph needs (authorization, x-request-id...). */
  headers: Record<string, string>;
}

/** Why an upstream subscription ended without completing. */
export class UpstreamClosed extends Error {
  override name = 'UpstreamClosed';
}

export class UpstreamSubscriptions {
  private readonly clients = new Map<string, Client>();

  constructor(
    private readonly options: {
      /** A subgraph's GraphQL URL (http or https), as the gateway routes to it. */
      urlOf(subgraph: string): string;
      /** The gateway's assertion for a subgraph, current at each (re)connection. */
      assertion(subgraph: string): Promise<string>;
      logger: Logger;
    },
  ) {}

  /**
   * Sends the subgraph's events for one subscription to `sink` until it completes or fails; the function
   * returned ends it sooner. A sink rather than graphql-ws's iterator, whose queue, promises and generator
   * each idle subscription held on top, and whose return() the executor does not need.
   */
  subscribe(request: UpstreamSubscription, sink: Sink<FormattedExecutionResult>): () => void {
    return this.clientFor(request.subgraph).subscribe({ query: request.query, variables: request.variables, extensions: { headers: request.headers } }, sink);
  }

  /** Closes every connection (the gateway is stopping). */
  async close(): Promise<void> {
    for (const client of this.clients.values()) await client.dispose();
    this.clients.clear();
  }

  private clientFor(subgraph: string): Client {
    let client = this.clients.get(subgraph);
    if (!client) {
      const url = new URL(this.options.urlOf(subgraph));
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      const logger = this.options.logger;
      client = createClient({
        url: url.toString(),
        webSocketImpl: WebSocket,
        lazy: true,
        lazyCloseTimeout: 5_000,
        keepAlive: 10_000,
        retryAttempts: 0,
        connectionParams: async () => ({ [GATEWAY_ASSERTION_HEADER]: await this.options.assertion(subgraph) }),
        on: {
          closed: (event) => {
            const { code, reason } = event as { code?: number; reason?: string };
            if (code !== 1000) logger.warn({ subgraph, code, reason }, 'subscription connection to a subgraph closed');
          },
        },
      });
      this.clients.set(subgraph, client);
    }
    return client;
  }
}
