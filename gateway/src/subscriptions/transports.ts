// The three ways a client subscribes at the gateway's /graphql: GraphQL over WebSocket, over Server-Sent Events, and Apollo's multipart HTTP.
import type http from 'node:http';
import { randomUUID } from 'node:crypto';
import express from 'express';
import { createHandler as createSseHandler } from 'graphql-sse';
import { GraphQLError, type ExecutionResult } from 'graphql';
import {
  serveGraphQLOverWebSocket,
  type GraphQLWebSocketServer,
  type Logger,
  type TrustProxy,
  type WebSocketExtra,
  type WebSocketLimits,
} from '@fedstack/runtime';
import type { GatewayContext } from '../subgraphs';
import type { Admitted, OperationPayload, Subscriber, SubscriptionAdmission } from './admission';
import type { SubscriptionRequest, SubscriptionResults } from './executor';
import type { SubscriptionMetrics } from './metrics';

/** What a transport needs: the checks, the executor, and where to say what happened. */
export interface TransportDeps {
  admission: SubscriptionAdmission;
  subscribe(request: SubscriptionRequest): SubscriptionResults;
  metrics: SubscriptionMetrics;
  logger: Logger;
  production: boolean;
  limits: WebSocketLimits & { initTimeoutMs: number };
  /** Whether the X-Forwarded-For of a request may be believed (the gateway's TRUST_PROXY), for the subgraphs' throttling. */
  clientAddress(request: http.IncomingMessage): string | undefined;
  /** The same for a WebSocket's upgrade request. */
  trustProxy: TrustProxy;
}

/** Who is at the other end of a subscription: where from, with which client. */
interface Peer {
  clientAddress: string | undefined;
  userAgent: string | undefined;
}

/** The peer of an HTTP request (SSE, multipart), its address as TRUST_PROXY says to read it. */
function peerOf(deps: TransportDeps, request: http.IncomingMessage): Peer {
  return { clientAddress: deps.clientAddress(request), userAgent: request.headers['user-agent'] };
}

/** The peer of a WebSocket connection, from the request that opened it (its address as TRUST_PROXY says to read it). */
function socketPeer(extra: WebSocketExtra): Peer {
  return { clientAddress: extra.remoteAddress, userAgent: extra.userAgent };
}

/** The context a subscription's subgraph calls carry, as a query's would. */
function contextFor(deps: TransportDeps, subscriber: Subscriber, peer: Peer): GatewayContext & { logger: Logger } {
  const requestId = randomUUID();
  return { requestId, authorization: subscriber.authorization, ...peer, logger: deps.logger.child({ requestId, userId: subscriber.userId }) };
}

/** The context of the request that asks auth who a subscriber is. */
function identityContext(deps: TransportDeps, peer: Peer): GatewayContext & { logger: Logger } {
  const requestId = randomUUID();
  return { requestId, authorization: undefined, ...peer, logger: deps.logger.child({ requestId }) };
}

interface SocketState {
  subscriber?: Subscriber;
  open: number;
  /** Gives back the connection's place under the per-user limit. */
  disconnect?: () => void;
  /** Closed already: a connection that went while its token was being checked takes no place. */
  closed?: boolean;
}

/**
 * The close code for a connection over the per-user limit, as HTTP's 429. graphql-ws closes a second
 * `connection_init` with it too (the reason tells them apart); its client does not reconnect after it,
 * which is what a client over the limit should do.
 */
export const TOO_MANY_CONNECTIONS_CLOSE = 4429;

/**
 * GraphQL over WebSocket (graphql-ws's `graphql-transport-ws`) at /graphql. The access token comes in
 * `connection_init`'s payload as `authorization` and is checked there; a connection that does not
 * initialise within the timeout is closed (4408), one refused is closed 4403, one over its user's
 * connections 4429. Queries and mutations may be sent on it too and run as on HTTP.
 */
export function webSocketTransport(httpServer: http.Server, deps: TransportDeps): GraphQLWebSocketServer {
  const states = new WeakMap<object, SocketState>();
  const state = (extra: object) => {
    let known = states.get(extra);
    if (!known) states.set(extra, (known = { open: 0 }));
    return known;
  };
  return serveGraphQLOverWebSocket<Record<string, unknown>>(httpServer, {
    path: '/graphql',
    limits: deps.limits,
    trustProxy: deps.trustProxy,
    logger: deps.logger.child({ component: 'subscriptions-ws' }),
    onSlowConsumer: () => deps.metrics.slowConsumerDropped('websocket'),
    graphql: {
      connectionInitWaitTimeout: deps.limits.initTimeoutMs,
      async onConnect(ctx) {
        const authorization = ctx.connectionParams?.authorization;
        const subscriber = await deps.admission.identify(
          typeof authorization === 'string' ? authorization : undefined,
          identityContext(deps, socketPeer(ctx.extra)),
        );
        const socket = state(ctx.extra);
        if (subscriber instanceof GraphQLError || socket.closed) return false;
        const disconnect = deps.admission.connect(subscriber);
        if (!disconnect) {
          ctx.extra.socket.close(TOO_MANY_CONNECTIONS_CLOSE, 'Too many connections for this user: close one first');
          return false;
        }
        Object.assign(socket, { subscriber, disconnect });
        return true;
      },
      // Also while onConnect still waits on auth: it then takes no place.
      onClose: (ctx) => {
        const socket = state(ctx.extra);
        socket.closed = true;
        socket.disconnect?.();
      },
      async onSubscribe(ctx, _id, payload) {
        const admitted = deps.admission.prepare(payload);
        if (Array.isArray(admitted)) return admitted;
        const socket = state(ctx.extra);
        const subscriber = socket.subscriber as Subscriber;
        const context = contextFor(deps, subscriber, socketPeer(ctx.extra));
        return {
          schema: undefined as never,
          document: admitted.document,
          variableValues: admitted.variables,
          operationName: admitted.operationName,
          contextValue: { admitted, context, socket },
        };
      },
      execute: (args) => {
        const { admitted, context } = args.contextValue as { admitted: Admitted; context: GatewayContext };
        return deps.admission.single(admitted, context);
      },
      subscribe: (args) => {
        const { admitted, context, socket } = args.contextValue as { admitted: Admitted; context: GatewayContext & { logger: Logger }; socket: SocketState };
        if (!deps.admission.isSubscription(admitted)) return deps.admission.single(admitted, context);
        const release = deps.admission.reserve(socket.subscriber as Subscriber, socket.open);
        if (release instanceof GraphQLError) return { errors: [release] };
        socket.open += 1;
        return deps.subscribe({
          ...admitted,
          context,
          release: () => {
            socket.open -= 1;
            release();
          },
        });
      },
    },
  });
}

/** The subscriber of an HTTP request (SSE, multipart), or the refusal answered as GraphQL errors. */
async function subscriberOf(deps: TransportDeps, request: http.IncomingMessage): Promise<Subscriber | GraphQLError> {
  return deps.admission.identify(request.headers.authorization, identityContext(deps, peerOf(deps, request)));
}

/**
 * The operation an HTTP streaming request asks for, started: a subscription's results, or a single
 * result (a query, a mutation, or a refusal).
 */
async function start(deps: TransportDeps, request: express.Request, payload: OperationPayload): Promise<SubscriptionResults | ExecutionResult> {
  const subscriber = await subscriberOf(deps, request);
  if (subscriber instanceof GraphQLError) return { errors: [subscriber] };
  const admitted = deps.admission.prepare(payload);
  if (Array.isArray(admitted)) return { errors: admitted };
  const context = contextFor(deps, subscriber, peerOf(deps, request));
  if (!deps.admission.isSubscription(admitted)) return deps.admission.single(admitted, context);
  const release = deps.admission.reserve(subscriber, 0);
  if (release instanceof GraphQLError) return { errors: [release] };
  return deps.subscribe({ ...admitted, context, release });
}

/** The parameters of a GraphQL over HTTP request: the JSON body of a POST, or the query string of a GET. */
function payloadOf(request: express.Request): OperationPayload {
  if (request.method === 'GET') {
    const { query, operationName, variables, extensions } = request.query as Record<string, string | undefined>;
    // Undefined when absent; null (refused later as not an object) when it is not JSON.
    const json = (text: string | undefined): unknown => {
      try {
        return text ? (JSON.parse(text) as unknown) : undefined;
      } catch {
        return null;
      }
    };
    return { query, operationName, variables: json(variables), extensions: json(extensions) };
  }
  return (typeof request.body === 'object' && request.body !== null ? request.body : {}) as OperationPayload;
}

/**
 * GraphQL over Server-Sent Events (graphql-sse, "distinct connections" mode) and Apollo's multipart HTTP
 * subscriptions, at /graphql, chosen by the request's Accept header; anything else goes on to the
 * ordinary endpoint. Both write to an HTTP response: one whose client stops reading is ended.
 */
export function httpStreamingTransports(deps: TransportDeps, bodyLimitBytes: number): express.RequestHandler & { close(): Promise<void> } {
  const streams = new Set<http.ServerResponse>();
  const json = express.json({ limit: bodyLimitBytes });
  /** Ended by the gateway's stop (close() below), or gone: written to, it would throw. */
  const ended = (response: http.ServerResponse) => response.writableEnded || response.destroyed || response.closed;
  const tooSlow = (response: http.ServerResponse, transport: string) => {
    if (response.writableLength <= deps.limits.maxBufferedBytes) return false;
    deps.metrics.slowConsumerDropped(transport);
    deps.logger.warn({ transport, bufferedBytes: response.writableLength }, 'streaming client stopped reading; disconnected');
    response.destroy();
    return true;
  };
  const sse = createSseHandler<express.Request, { response: express.Response }>({
    onSubscribe: async (request, params) => {
      const { response } = request.context;
      streams.add(response);
      response.once('close', () => streams.delete(response));
      const started = await start(deps, request.raw, params);
      // graphql-sse reads an object without `data` as execution arguments: a refusal goes as a result.
      return Symbol.asyncIterator in started || 'data' in started ? started : { data: null, ...started };
    },
  });
  /**
   * graphql-sse's protocol, written here rather than by its Express adapter: the adapter waits for each
   * write to be flushed, while graphql-sse goes on taking every result into a queue of its own with no
   * bound, so a client that stopped reading grew the gateway's memory for ever. Written at once, results
   * fill the response's buffer instead, and a client that stops reading is cut off there, as on multipart.
   */
  const serveSse = async (request: express.Request, response: express.Response): Promise<void> => {
    const [body, init] = await sse({
      method: request.method,
      url: request.url,
      headers: {
        get: (key) => {
          const value = request.headers[key];
          return Array.isArray(value) ? value.join('\n') : value;
        },
      },
      body: (request.body as Record<string, unknown> | undefined) ?? null,
      raw: request,
      context: { response },
    });
    response.writeHead(init.status, init.statusText, init.headers);
    if (typeof body !== 'object' || body === null) return void response.end(body ?? undefined);
    response.once('close', () => void body.return(undefined));
    for await (const chunk of body) {
      if (ended(response) || tooSlow(response, 'sse')) break;
      response.write(chunk);
    }
    if (!ended(response)) response.end();
  };
  const handler: express.RequestHandler = (request, response, next) => {
    const accept = request.headers.accept ?? '';
    if (accept.includes('text/event-stream')) {
      json(request, response, (error?: unknown) => (error ? next(error) : void serveSse(request, response).catch(next)));
      return;
    }
    if (/multipart\/mixed/.test(accept) && /subscriptionSpec="?1\.0/.test(accept)) {
      json(request, response, (error?: unknown) => (error ? next(error) : void multipart(request, response).catch(next)));
      return;
    }
    next();
  };
  /**
   * Apollo's multipart HTTP subscription protocol (what Apollo Client's HttpLink speaks): each result a
   * part `{"payload": result}` followed at once by the boundary (so the client can read it without
   * waiting for the next), a `{}` heartbeat every 5 s, and the closing boundary at the end.
   */
  const multipart = async (request: express.Request, response: express.Response): Promise<void> => {
    const started = await start(deps, request, payloadOf(request));
    const results = Symbol.asyncIterator in started ? started : undefined;
    // A client gone while it was being identified: its 'close' has come and gone.
    if (response.closed) {
      await results?.return();
      return;
    }
    response.writeHead(200, { 'content-type': 'multipart/mixed;boundary="graphql";subscriptionSpec="1.0"', 'cache-control': 'no-cache' });
    response.write('\r\n--graphql\r\n');
    streams.add(response);
    const part = (body: unknown) => {
      if (!ended(response)) response.write(`content-type: application/json; charset=utf-8\r\n\r\n${JSON.stringify(body)}\r\n--graphql\r\n`);
    };
    const heartbeat = setInterval(() => part({}), 5000);
    heartbeat.unref();
    response.once('close', () => {
      streams.delete(response);
      // Ends the subscription now, not at its next event.
      void results?.return();
    });
    try {
      if (results) {
        for await (const result of results) {
          if (ended(response) || tooSlow(response, 'multipart')) break;
          part({ payload: result });
        }
      } else {
        part({ payload: started });
      }
    } finally {
      clearInterval(heartbeat);
      if (!ended(response)) response.end(`content-type: application/json; charset=utf-8\r\n\r\n{}\r\n--graphql--\r\n`);
    }
  };
  return Object.assign(handler, {
    /** Ends every stream (the gateway is stopping), so that clients reconnect elsewhere. */
    close: async () => {
      for (const stream of streams) stream.end();
    },
  });
}
