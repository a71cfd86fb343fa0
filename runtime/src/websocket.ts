// GraphQL over WebSocket (the graphql-transport-ws protocol of graphql-ws) on a server's own HTTP port, with its abuse limits.
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { makeServer, handleProtocols, type ServerOptions } from 'graphql-ws';
import express from 'express';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from './logger';
import { handleMessages } from './websocket-messages';

/** How long a client closed with 1001 has to answer before its connection is cut. */
const CLOSE_HANDSHAKE_MS = 1000;

/** Express's compiled `trust proxy`: whether the hop at `address`, `hop` steps from the server, may report the one before it. */
export type TrustProxy = (address: string, hop: number) => boolean;

/** A `trust proxy` setting (TRUST_PROXY) compiled as Express compiles it, for requests Express does not see. */
export function compileTrustProxy(setting: string | false): TrustProxy {
  return express().set('trust proxy', setting).get('trust proxy fn') as TrustProxy;
}

/** The client's address as Express's `req.ip` has it for a request from `remote` carrying `forwardedFor`, under the same `trust proxy`. */
export function clientAddressOf(remote: string | undefined, forwardedFor: string | undefined, trust: TrustProxy): string | undefined {
  if (!remote) return undefined;
  const hops = [
    remote,
    ...(forwardedFor ?? '')
      .split(',')
      .map((hop) => hop.trim())
      .filter(Boolean)
      .reverse(),
  ];
  let hop = 0;
  while (hop < hops.length - 1 && trust(hops[hop] as string, hop)) hop += 1;
  return hops[hop];
}

/**
 * What both the gateway (to clients) and the subgraphs (to the gateway) serve. The protocol is
 * graphql-ws's own server (`makeServer`); this module is the socket under it: the upgrade on one path,
 * keep-alive pings, a bound on incoming frames, and a bound on what waits to be sent, so that a client that
 * stops reading is disconnected instead of growing the process's memory with its backlog.
 */
export interface WebSocketLimits {
  /** Largest incoming frame, in bytes; larger ones close the connection (1009). */
  maxPayloadBytes: number;
  /** Most bytes waiting to be sent to one client; beyond, it is disconnected as a slow consumer (1008), or waited for (`whenBehind`). */
  maxBufferedBytes: number;
  /**
   * Past maxBufferedBytes: `disconnect` (a client's own connection), or `wait`, for a connection that
   * carries many subscribers' events (the gateway's to a subgraph): one subscriber's large events, sent
   * in a burst, closed it and ended everyone's subscriptions. Each send waits until what is waiting has
   * gone out, so the subscriptions themselves bound what piles up behind (each its own backlog); a peer
   * that reads nothing stops answering pings and is dropped by them.
   */
  whenBehind?: 'disconnect' | 'wait';
  /** How often the server pings; a client that does not answer within as long again is dropped. */
  keepAliveMs: number;
}

/**
 * What a connection's handlers are told about it: the socket, and what they need of the request that
 * opened it. Not the request itself, which a connection would keep for its whole life (about 1.5 kB of
 * headers and state per idle subscriber).
 */
export interface WebSocketExtra {
  socket: WebSocket;
  /** The client's address: the socket's, or as the upgrade's X-Forwarded-For says where `trustProxy` believes it. */
  remoteAddress: string | undefined;
  userAgent: string | undefined;
}

export interface GraphQLWebSocketServer {
  /** Open connections now. */
  readonly connections: number;
  /** Closes every connection with 1001 "Going away", so that clients reconnect elsewhere, and stops accepting. */
  close(): Promise<void>;
}

/** The close code for a client that stopped reading (RFC 6455's "policy violation"). */
export const SLOW_CONSUMER_CLOSE = 1008;

/**
 * What is sent on a connection in one turn of the event loop leaves in one write at its end. Each
 * message was a system call of its own (`ws` writes each frame at once), and a subgraph's connection to
 * the gateway carries every subscription's results: the few that one committed change makes leave
 * together. At the end of the turn (setImmediate) every connection written to is flushed.
 */
const corked = new Set<Duplex>();
let flushScheduled = false;
const flush = () => {
  flushScheduled = false;
  const sockets = [...corked];
  corked.clear();
  for (const socket of sockets) socket.uncork();
};
function holdUntilTurnEnds(socket: Duplex): void {
  if (corked.has(socket)) return;
  socket.cork();
  corked.add(socket);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flush);
  }
}

/** Each connection's wait for what it has waiting to go out, shared by every send held up on it. */
const drains = new WeakMap<Duplex, Promise<void>>();
/**
 * Resolves once `raw` has written out what it held (its 'drain'), or its WebSocket has closed. A stream
 * says 'drain' only after a write found it full (its high-water mark): below that, the next turn is waited for.
 */
function drained(raw: Duplex, socket: WebSocket): Promise<void> {
  if (!raw.writableNeedDrain) return new Promise((resolve) => setImmediate(resolve));
  let wait = drains.get(raw);
  if (!wait) {
    wait = new Promise<void>((resolve) => {
      const done = () => {
        raw.off('drain', done);
        socket.off('close', done);
        drains.delete(raw);
        resolve();
      };
      raw.on('drain', done);
      socket.on('close', done);
    });
    drains.set(raw, wait);
  }
  return wait;
}

/**
 * A function of its own rather than a closure in the upgrade handler: the listener lives as long as the
 * connection, and a closure there kept the upgrade request (its headers and state) alive with it.
 */
function destroySocket(this: Duplex): void {
  this.destroy();
}

/**
 * The path of a request's target, or undefined for a target that is no path (`//`, `http://[`): parsing one
 * threw in the upgrade listener, and any client sending `Upgrade` with it ended the process.
 */
function pathOf(target: string | undefined): string | undefined {
  try {
    return new URL(target ?? '/', 'http://localhost').pathname;
  } catch {
    return undefined;
  }
}

/**
 * Serves graphql-ws on `path` of `httpServer`. `options` is graphql-ws's ServerOptions (schema or
 * execute/subscribe, onConnect, onSubscribe...); protocol errors get the protocol's close codes and never
 * reach the process.
 */
export function serveGraphQLOverWebSocket<P extends Record<string, unknown> | undefined = Record<string, unknown> | undefined>(
  httpServer: http.Server,
  options: {
    path: string;
    graphql: ServerOptions<P, WebSocketExtra>;
    limits: WebSocketLimits;
    logger: Logger;
    /** Told each time a slow consumer is disconnected. */
    onSlowConsumer?: () => void;
    /** Which hops may report the client's address (the server's TRUST_PROXY); none, unless given. */
    trustProxy?: TrustProxy;
  },
): GraphQLWebSocketServer {
  const { limits, logger } = options;
  const protocol = makeServer<P, WebSocketExtra>(options.graphql);
  const server = new WebSocketServer({ noServer: true, maxPayload: limits.maxPayloadBytes, handleProtocols });
  server.on('error', (error) => logger.warn({ err: error }, 'WebSocket server error'));
  let closing = false;
  // Keep-alive: one timer for every connection rather than one each; a connection that did not answer the
  // last round's ping is dropped.
  const unanswered = new WeakSet<WebSocket>();
  const pings = setInterval(() => {
    for (const socket of server.clients) {
      if (unanswered.has(socket)) {
        socket.terminate();
        continue;
      }
      unanswered.add(socket);
      socket.ping();
    }
  }, limits.keepAliveMs);
  pings.unref();

  httpServer.on('upgrade', (request: http.IncomingMessage, socket, head) => {
    // First: Node's HTTP server leaves an upgraded socket without an error listener, and a client that
    // resets the connection as it is refused below would end the process.
    socket.on('error', destroySocket);
    const pathname = pathOf(request.url);
    if (pathname === undefined) {
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    // Another path, or a process on its way down: not ours to take.
    if (pathname !== options.path || closing) {
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    server.handleUpgrade(request, socket, head, (client) => server.emit('connection', client, request, socket));
  });

  server.on('connection', (socket: WebSocket, request: http.IncomingMessage, raw: Duplex) => {
    socket.on('error', (error) => {
      logger.debug({ reason: error.message }, 'WebSocket connection error');
      socket.terminate();
    });
    socket.on('pong', () => unanswered.delete(socket));
    const sendNow = (data: string): void => {
      if (socket.readyState !== socket.OPEN) return;
      // In bytes, as the buffer is counted: a character may take up to 3 of them.
      if (limits.whenBehind !== 'wait' && socket.bufferedAmount + Buffer.byteLength(data) > limits.maxBufferedBytes) {
        options.onSlowConsumer?.();
        logger.warn({ bufferedBytes: socket.bufferedAmount }, 'WebSocket client stopped reading; disconnected');
        socket.close(SLOW_CONSUMER_CLOSE, 'Slow consumer: the client is not reading what it is sent');
        // A client that reads nothing may not read the close either.
        setTimeout(() => socket.terminate(), 1000).unref();
        return;
      }
      holdUntilTurnEnds(raw);
      socket.send(data);
    };
    // Only a send made past the bound waits (a promise of its own): the rest go out as they come.
    const afterDrain = async (data: string): Promise<void> => {
      while (socket.readyState === socket.OPEN && socket.bufferedAmount > limits.maxBufferedBytes) await drained(raw, socket);
      sendNow(data);
    };
    const closed = protocol.opened(
      {
        protocol: socket.protocol,
        // Not waiting for each message to reach the network: what a client does not read piles up in the
        // socket's buffer, which is bounded; past the bound the client is disconnected, and nothing upstream
        // waits on it meanwhile. On a connection that waits instead (`whenBehind`), only sends made past the
        // bound wait, each subscription's behind its own.
        send: (data) => (limits.whenBehind === 'wait' && socket.bufferedAmount > limits.maxBufferedBytes ? afterDrain(data) : sendNow(data)),
        close: (code, reason) => socket.close(code, reason),
        onMessage: (handle) => handleMessages(socket, handle, logger),
      },
      {
        socket,
        remoteAddress: options.trustProxy
          ? clientAddressOf(request.socket.remoteAddress, [request.headers['x-forwarded-for'] ?? []].flat().join(','), options.trustProxy)
          : request.socket.remoteAddress,
        userAgent: request.headers['user-agent'],
      },
    );
    socket.once('close', (code, reason) => void closed(code, String(reason)));
  });

  return {
    get connections() {
      return server.clients.size;
    },
    async close() {
      closing = true;
      clearInterval(pings);
      for (const client of server.clients) client.close(1001, 'Going away');
      // A client that does not answer the close (a frozen tab, a half-open connection) is cut off: ws would
      // wait 30 s for it, and a stopping process drains its HTTP requests only after this.
      const stragglers = setTimeout(() => {
        for (const client of server.clients) client.terminate();
      }, CLOSE_HANDSHAKE_MS);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      clearTimeout(stragglers);
    },
  };
}
