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

/** How long a subgraph's connection stays open after its last subscription ended, for the next one. */
const IDLE_CLOSE_MS = 5_000;

/** One subgraph's connection, and what keeps it open. */
interface Upstream {
  /** Where it connects (ws: or wss:). */
  url: string;
  client: Client;
  /** Closed by the gateway (idle, moved, stopping): its close loses nothing. */
  disposed?: boolean;
  /** The subscriptions on it that have not ended, each by what ends it with an error. */
  live: Set<(error: unknown) => void>;
  /** Closes it once it has had no subscription for the idle time. */
  idle?: NodeJS.Timeout;
}

export class UpstreamSubscriptions {
  /** Each subgraph's connection at its address now. */
  private readonly upstreams = new Map<string, Upstream>();
  /** Connections to an address a reloaded supergraph moved a subgraph from, open until their last subscription ends. */
  private readonly moved = new Set<Upstream>();

  constructor(
    private readonly options: {
      /** A subgraph's GraphQL URL (http or https), as the gateway routes to it. */
      urlOf(subgraph: string): string;
      /** The gateway's assertion for a subgraph, current at each (re)connection. */
      assertion(subgraph: string): Promise<string>;
      logger: Logger;
      /**
       * How long a subgraph may take to accept a connection (its `connection_ack`) or to answer a ping on
       * it, as long as a call to it may take: one that answers nothing (frozen, overloaded, or cut off by
       * a network that drops packets) fails the subscriptions on it or waiting for it, instead of holding
       * them, and the gateway's stop, for ever.
       */
      answerTimeoutMs: number;
      /** How often an open connection is pinged (10 s). */
      pingEveryMs?: number;
      /** How long a connection without subscriptions stays open (5 s). */
      idleCloseMs?: number;
    },
  ) {}

  /**
   * Sends the subgraph's events for one subscription to `sink` until it completes or fails; the function
   * returned ends it sooner. A sink rather than graphql-ws's iterator, whose queue, promises and generator
   * each idle subscription held on top, and whose return() the executor does not need.
   */
  subscribe(request: UpstreamSubscription, sink: Sink<FormattedExecutionResult>): () => void {
    // Serialised here first, where a failure is the caller's: graphql-ws serialises inside a promise it leaves
    // unhandled, and a value it could not serialise ended the process at the connection's next close.
    JSON.stringify(request.variables);
    const { subgraph } = request;
    const upstream = this.upstreamFor(subgraph);
    clearTimeout(upstream.idle);
    // Whatever ends it first (the subgraph, the connection, the caller) ends it once; what follows is ignored.
    const end = (): boolean => {
      if (!upstream.live.delete(fail)) return false;
      if (upstream.live.size > 0) return true;
      if (this.upstreams.get(subgraph) === upstream) {
        upstream.idle = setTimeout(() => this.retire(subgraph, upstream), this.options.idleCloseMs ?? IDLE_CLOSE_MS);
      } else if (this.moved.delete(upstream)) {
        void dispose(upstream);
      }
      return true;
    };
    const fail = (error: unknown) => {
      if (end()) sink.error(error);
    };
    upstream.live.add(fail);
    const unsubscribe = upstream.client.subscribe<Record<string, unknown>, Record<string, unknown>>(
      { query: request.query, variables: request.variables, extensions: { headers: request.headers } },
      {
        next: (result) => {
          if (upstream.live.has(fail)) sink.next(result);
        },
        error: fail,
        complete: () => {
          if (end()) sink.complete();
        },
      },
    );
    return () => {
      if (end()) unsubscribe();
    };
  }

  /** Closes every connection (the gateway is stopping), leaving nothing scheduled. */
  async close(): Promise<void> {
    const upstreams = [...this.upstreams.values(), ...this.moved];
    this.upstreams.clear();
    this.moved.clear();
    await Promise.all(upstreams.map(dispose));
  }

  /** Forgets and closes a subgraph's connection, unless it is gone already (retired, or the gateway stopping). */
  private retire(subgraph: string, upstream: Upstream): void {
    if (this.upstreams.get(subgraph) === upstream) this.upstreams.delete(subgraph);
    else if (!this.moved.delete(upstream)) return;
    void dispose(upstream);
  }

  /**
   * The subgraph's connection, made with its first subscription. Held open (graphql-ws's `lazy: false`)
   * and closed here once idle, rather than by graphql-ws's own lazy close: a client disposed of (the
   * gateway stopping) keeps that timer, which held an embedding process for up to its 5 s.
   */
  private upstreamFor(subgraph: string): Upstream {
    const url = new URL(this.options.urlOf(subgraph));
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const existing = this.upstreams.get(subgraph);
    if (existing?.url === url.toString()) return existing;
    if (existing) {
      // A reloaded supergraph moved the subgraph: new subscriptions go to its new address (they went on
      // to the old one while any subscription held its connection open); those on the old stay there.
      this.upstreams.delete(subgraph);
      clearTimeout(existing.idle);
      if (existing.live.size > 0) this.moved.add(existing);
      else void dispose(existing);
    }
    const { logger, answerTimeoutMs } = this.options;
    // graphql-ws sends the next ping only once the last is answered, and nothing else notices a subgraph
    // that stopped answering: the socket is cut (terminated: closing would wait on the peer too) when a
    // pong is late, and `closed` below ends the subscriptions on it.
    let socket: WebSocket | undefined;
    let pongDue: NodeJS.Timeout | undefined;
    let awaitingPong = false;
    const upstream: Upstream = {
      url: url.toString(),
      live: new Set(),
      client: createClient({
        url: url.toString(),
        // graphql-ws times the acknowledgement only once the socket is open: a subgraph whose kernel took
        // the connection and whose process answers nothing (stopped, frozen) held the upgrade, every
        // subscription waiting on it and the gateway's stop for ever.
        webSocketImpl: class extends WebSocket {
          constructor(address: string, protocols?: string | string[]) {
            super(address, protocols, { handshakeTimeout: answerTimeoutMs });
          }
        },
        lazy: false,
        // The subscriptions waiting on the connection fail with the same error, and `closed` logs it.
        onNonLazyError: () => undefined,
        keepAlive: this.options.pingEveryMs ?? 10_000,
        connectionAckWaitTimeout: answerTimeoutMs,
        retryAttempts: 0,
        connectionParams: async () => ({ [GATEWAY_ASSERTION_HEADER]: await this.options.assertion(subgraph) }),
        on: {
          opened: (opened) => (socket = opened as WebSocket),
          ping: (received) => {
            if (received) return;
            awaitingPong = true;
            // Checked once the sockets have been read: after the event loop was held up past the time, the
            // timer comes before a pong already waiting to be read.
            pongDue = setTimeout(() => setImmediate(() => awaitingPong && socket?.terminate()), answerTimeoutMs).unref();
          },
          pong: (received) => {
            if (!received) return;
            awaitingPong = false;
            clearTimeout(pongDue);
          },
          closed: (event) => {
            clearTimeout(pongDue);
            if (upstream.disposed) return;
            const { code, reason } = event as { code?: number; reason?: string };
            logger.warn({ subgraph, code, reason }, 'subscription connection to a subgraph closed');
            // Closed by the subgraph, or by anything between: the next subscription makes a new connection,
            // and each one on it ends with an error, whatever the code. After a close with code 1000
            // graphql-ws would subscribe them again on a new connection at once, with no wait, and
            // events committed meanwhile would be missed without a word; retired (disposed of) first, its
            // client subscribes nothing again.
            this.retire(subgraph, upstream);
            for (const fail of [...upstream.live]) fail(new UpstreamClosed(`the connection closed (${code ?? 'no code'}${reason ? `: ${reason}` : ''})`));
          },
        },
      }),
    };
    this.upstreams.set(subgraph, upstream);
    return upstream;
  }
}

/** Closes a subgraph's connection. */
async function dispose(upstream: Upstream): Promise<void> {
  upstream.disposed = true;
  clearTimeout(upstream.idle);
  try {
    await upstream.client.dispose();
  } catch {
    // A connection still being made when disposed of, which then failed: there is nothing to close, and
    // graphql-ws rejects with that failure (a gateway stopping during a subgraph's outage).
  }
}
