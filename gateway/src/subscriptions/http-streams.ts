// GraphQL over HTTP streams at the gateway's /graphql: Server-Sent Events (graphql-sse) and Apollo's multipart HTTP subscriptions.
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import express from 'express';
import { createHandler as createSseHandler, print } from 'graphql-sse';
import { GraphQLError, OperationTypeNode, type ExecutionResult } from 'graphql';
import { requestPositions, type WalPositions } from '@fedstack/runtime';
import { withoutHttp, type OperationPayload, type Subscriber } from './admission';
import { gatewayStopping } from './events';
import type { SubscriptionResults } from './executor';
import { contextFor, identityContext, type Peer, type TransportDeps } from './transports';

/** The peer of an HTTP request (SSE, multipart), its address as TRUST_PROXY says to read it. */
function peerOf(deps: TransportDeps, request: http.IncomingMessage): Peer {
  return { clientAddress: deps.clientAddress(request), userAgent: request.headers['user-agent'] };
}

/** The subscriber of an HTTP request (SSE, multipart), or the refusal answered as GraphQL errors. */
async function subscriberOf(deps: TransportDeps, request: http.IncomingMessage, requestId: string): Promise<Subscriber | GraphQLError> {
  return deps.admission.identify(request.headers.authorization, identityContext(deps, peerOf(deps, request), requestId));
}

/** The WAL positions the request carries back (read-your-writes, as over plain HTTP), or the refusal of a malformed header. */
function positionsOf(request: http.IncomingMessage): WalPositions | GraphQLError {
  try {
    return requestPositions(request.headers);
  } catch (error) {
    if (!(error instanceof GraphQLError)) throw error;
    return withoutHttp(error);
  }
}

/**
 * The operation an HTTP streaming request asks for, started: a subscription's results, or a single
 * result (a query, a mutation, or a refusal). The positions it carries hold for its reads and its
 * events' as for a plain request's; a mutation's own do not come back (mutations belong on plain HTTP).
 * A subscription asked for as the gateway stops (`stopping`) is refused, as the open ones are ended.
 */
async function start(
  deps: TransportDeps,
  request: express.Request,
  payload: OperationPayload | GraphQLError,
  stopping: () => boolean,
): Promise<SubscriptionResults | ExecutionResult> {
  if (payload instanceof GraphQLError) return { errors: [payload] };
  const positions = positionsOf(request);
  if (positions instanceof GraphQLError) return { errors: [positions] };
  // The document first (persisted documents, parsing, validation): a request refused for it calls no subgraph, auth included.
  const admitted = deps.admission.prepare(payload);
  if (Array.isArray(admitted)) return { errors: admitted };
  // As on the plain endpoint (405 there): a GET, which caches and proxies may repeat, changes nothing.
  if (request.method === 'GET' && admitted.operation.operation === OperationTypeNode.MUTATION) {
    return {
      errors: [new GraphQLError('GET requests only support queries and subscriptions: send a mutation by POST', { extensions: { code: 'BAD_REQUEST' } })],
    };
  }
  // The id the client gave or was given (echoed in the response), for the logs of every process it reaches.
  const requestId = String(request.res?.locals.requestId ?? randomUUID());
  const subscriber = await subscriberOf(deps, request, requestId);
  if (subscriber instanceof GraphQLError) return { errors: [subscriber] };
  const context = { ...contextFor(deps, subscriber, peerOf(deps, request), requestId), positions };
  if (!deps.admission.isSubscription(admitted)) return deps.admission.single(admitted, context);
  // Stopped while it was being identified: its subscription would start after every stream had ended.
  if (stopping()) return { errors: [gatewayStopping()] };
  const release = deps.admission.reserve(subscriber, 0);
  if (release instanceof GraphQLError) return { errors: [release] };
  return deps.subscribe({ ...admitted, context, release });
}

/**
 * The parameters of a GraphQL over HTTP request: the JSON body of a POST, or the query string of a GET,
 * whose `variables` or `extensions` that are not JSON are refused (taken for none, a subscription cut
 * short started without its variables: all of the user's payments instead of the one asked for).
 */
function payloadOf(request: express.Request): OperationPayload | GraphQLError {
  if (request.method === 'GET') {
    const { query, operationName, variables, extensions } = request.query as Record<string, string | undefined>;
    const parameters: OperationPayload = { query, operationName };
    for (const [name, text] of [['variables', variables] as const, ['extensions', extensions] as const]) {
      if (!text) continue;
      try {
        parameters[name] = JSON.parse(text) as never;
      } catch {
        return new GraphQLError(`"${name}" in the query string is not JSON`, { extensions: { code: 'BAD_REQUEST' } });
      }
    }
    return parameters;
  }
  return (typeof request.body === 'object' && request.body !== null ? request.body : {}) as OperationPayload;
}

/**
 * graphql-sse's own refusal of a request it cannot read ("Missing query", "Invalid variables"), with the
 * `extensions.code` every error the gateway answers carries: BAD_REQUEST, as the plain endpoint says.
 */
function withBadRequestCode(body: string): string {
  try {
    const { errors, ...rest } = JSON.parse(body) as { errors?: { extensions?: Record<string, unknown> }[] };
    if (!Array.isArray(errors)) return body;
    return JSON.stringify({ ...rest, errors: errors.map((error) => ({ ...error, extensions: { code: 'BAD_REQUEST', ...error.extensions } })) });
  } catch {
    return body;
  }
}

/**
 * GraphQL over Server-Sent Events (graphql-sse, "distinct connections" mode) and Apollo's multipart HTTP
 * subscriptions, at /graphql, chosen by the request's Accept header; anything else goes on to the
 * ordinary endpoint. Both write to an HTTP response: one whose client stops reading is ended.
 */
export function httpStreamingTransports(deps: TransportDeps, bodyLimitBytes: number): express.RequestHandler & { close(): Promise<void> } {
  /** The open streams, each with what ends its subscription now rather than at its next event, and its protocol's last words. */
  const streams = new Map<http.ServerResponse, { endSubscription: () => void; farewell: (result: ExecutionResult) => void }>();
  let stopping = false;
  const isStopping = () => stopping;
  const opened = (response: http.ServerResponse, endSubscription: () => void, farewell: (result: ExecutionResult) => void) => {
    streams.set(response, { endSubscription, farewell });
    response.once('close', () => {
      streams.delete(response);
      endSubscription();
    });
  };
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
  const sse = createSseHandler<express.Request>({
    onSubscribe: async (request, params) => {
      const started = await start(deps, request.raw, params, isStopping);
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
          // Routed here for accepting text/event-stream among others (`text/event-stream, application/json`,
          // a charset): graphql-sse takes only the bare type for a stream, and answered anything else 404.
          if (key === 'accept') return 'text/event-stream';
          const value = request.headers[key];
          return Array.isArray(value) ? value.join('\n') : value;
        },
      },
      body: (request.body as Record<string, unknown> | undefined) ?? null,
      raw: request,
      context: undefined,
    });
    // A client gone while it was being identified: its 'close' has come and gone.
    if (ended(response)) {
      if (typeof body === 'object' && body !== null) await body.return(undefined);
      return;
    }
    response.writeHead(init.status, init.statusText, init.headers);
    if (typeof body !== 'object' || body === null) return void response.end(init.status === 400 && body ? withBadRequestCode(body) : (body ?? undefined));
    opened(
      response,
      () => void body.return(undefined),
      (result) => response.end(print({ event: 'next', data: result }) + print({ event: 'complete', data: null })),
    );
    for await (const chunk of body) {
      if (ended(response) || tooSlow(response, 'sse')) break;
      response.write(chunk);
    }
    if (!ended(response)) response.end();
  };
  const handler: express.RequestHandler = (request, response, next) => {
    const accept = request.headers.accept ?? '';
    if (accept.includes('text/event-stream')) {
      // A query string's variables that are not JSON, named as over multipart: graphql-sse says "Unparsable URL".
      const unreadable = request.method === 'GET' ? payloadOf(request) : undefined;
      if (unreadable instanceof GraphQLError) return void response.status(400).json({ errors: [unreadable] });
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
    const started = await start(deps, request, payloadOf(request), isStopping);
    const results = Symbol.asyncIterator in started ? started : undefined;
    // A client gone while it was being identified: its 'close' has come and gone.
    if (response.closed) {
      await results?.return();
      return;
    }
    response.writeHead(200, { 'content-type': 'multipart/mixed;boundary="graphql";subscriptionSpec="1.0"', 'cache-control': 'no-cache' });
    response.write('\r\n--graphql\r\n');
    const part = (body: unknown) => {
      if (!ended(response)) response.write(`content-type: application/json; charset=utf-8\r\n\r\n${JSON.stringify(body)}\r\n--graphql\r\n`);
    };
    const closing = `content-type: application/json; charset=utf-8\r\n\r\n{}\r\n--graphql--\r\n`;
    opened(
      response,
      () => void results?.return(),
      (result) => {
        part({ payload: result });
        response.end(closing);
      },
    );
    const heartbeat = setInterval(() => part({}), 5000);
    heartbeat.unref();
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
      if (!ended(response)) response.end(closing);
    }
  };
  return Object.assign(handler, {
    /**
     * Ends every stream and its subscription (the gateway is stopping), so that clients reconnect elsewhere:
     * with an error saying so, and as its protocol ends a stream (SSE's `complete`, multipart's closing
     * boundary). Cut short, a client could not tell the stop from a broken network.
     */
    close: async () => {
      stopping = true;
      const farewellResult = { errors: [gatewayStopping()] };
      for (const [stream, { endSubscription, farewell }] of streams) {
        if (!ended(stream)) farewell(farewellResult);
        endSubscription();
      }
    },
  });
}
