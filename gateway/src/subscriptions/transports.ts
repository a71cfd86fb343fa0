// What the gateway's subscription transports share, and the first of them: GraphQL over WebSocket at /graphql.
import type http from 'node:http';
import { randomUUID } from 'node:crypto';
import { GraphQLError, type ExecutionResult } from 'graphql';
import { CloseCode } from 'graphql-ws';
import {
  ErrorCode,
  serveGraphQLOverWebSocket,
  type GraphQLWebSocketServer,
  type Logger,
  type TrustProxy,
  type WebSocketExtra,
  type WebSocketLimits,
} from '@fedstack/runtime';
import type { GatewayContext } from '../subgraphs';
import type { Admitted, Subscriber, SubscriptionAdmission } from './admission';
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
export interface Peer {
  clientAddress: string | undefined;
  userAgent: string | undefined;
}

/** The peer of a WebSocket connection, from the request that opened it (its address as TRUST_PROXY says to read it). */
function socketPeer(extra: WebSocketExtra): Peer {
  return { clientAddress: extra.remoteAddress, userAgent: extra.userAgent };
}

/** The context a subscription's subgraph calls carry, as a query's would, under the request's id (else a new one). */
export function contextFor(deps: TransportDeps, subscriber: Subscriber, peer: Peer, requestId: string = randomUUID()): GatewayContext & { logger: Logger } {
  return { requestId, authorization: subscriber.authorization, ...peer, logger: deps.logger.child({ requestId, userId: subscriber.userId }) };
}

/** The context of the request that asks auth who a subscriber is, under the request's id (else a new one). */
export function identityContext(deps: TransportDeps, peer: Peer, requestId: string = randomUUID()): GatewayContext & { logger: Logger } {
  return { requestId, authorization: undefined, ...peer, logger: deps.logger.child({ requestId }) };
}

interface SocketState {
  subscriber?: Subscriber;
  open: number;
  /** Queries and mutations sent on it whose answers have not gone back yet. */
  running: number;
  /** Gives back the connection's place under the per-user limit. */
  disconnect?: () => void;
  /** Closed already: a connection that went while its token was being checked takes no place. */
  closed?: boolean;
  /** Closes the connection when its access token expires. */
  expiry?: NodeJS.Timeout;
}

/** The longest a timer waits (about 24.8 days); a token that lives longer is not closed on. */
const LONGEST_TIMER_MS = 2 ** 31 - 1;

/**
 * The close code for a connection over the per-user limit, as HTTP's 429. graphql-ws closes a second
 * `connection_init` with it too (the reason tells them apart); its client does not reconnect after it,
 * which is what a client over the limit should do.
 */
export const TOO_MANY_CONNECTIONS_CLOSE = 4429;

/**
 * GraphQL over WebSocket (graphql-ws's `graphql-transport-ws`) at /graphql. The access token comes in
 * `connection_init`'s payload as `authorization` and is checked there; a connection that does not
 * initialise within the timeout is closed (4408), one without a valid token 4401, one refused 4403, one
 * whose token auth could not check 1013, one over its user's connections 4429, and one whose token
 * expires 4401 then. Queries and mutations may be sent on it too
 * and run as on HTTP.
 */
export function webSocketTransport(httpServer: http.Server, deps: TransportDeps): GraphQLWebSocketServer {
  const states = new WeakMap<object, SocketState>();
  const state = (extra: object) => {
    let known = states.get(extra);
    if (!known) states.set(extra, (known = { open: 0, running: 0 }));
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
        if (socket.closed) return false;
        if (subscriber instanceof GraphQLError) return refused(ctx.extra.socket, subscriber);
        const disconnect = deps.admission.connect(subscriber);
        if (!disconnect) {
          ctx.extra.socket.close(TOO_MANY_CONNECTIONS_CLOSE, 'Too many connections for this user: close one first');
          return false;
        }
        Object.assign(socket, { subscriber, disconnect });
        // Nothing more can run on it once its token has expired (each operation is refused): it is closed
        // then, so that the client connects again with a fresh token rather than holding it idle.
        const left = subscriber.expiresAt === undefined ? undefined : subscriber.expiresAt - Date.now();
        if (left !== undefined && left < LONGEST_TIMER_MS) {
          socket.expiry = setTimeout(() => ctx.extra.socket.close(CloseCode.Unauthorized, 'The access token expired: connect again with a fresh one'), left);
          socket.expiry.unref();
        }
        return true;
      },
      // Also while onConnect still waits on auth: it then takes no place.
      onClose: (ctx) => {
        const socket = state(ctx.extra);
        socket.closed = true;
        clearTimeout(socket.expiry);
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
      // A query or mutation comes back from the gateway's own pipeline formatted, its errors plain objects,
      // on which graphql-ws would call toJSON() (and answer an internal error instead); a subscription's
      // results carry GraphQLErrors.
      onNext: (ctx, _id, _payload, args, result) => {
        if (!result.errors) return result;
        // A subscription ended UNAUTHENTICATED: the connection's sign-in is over (logged out, erased, its
        // token refused). Every operation on it would be refused, and it held one of its user's connections
        // until its token expired: closed 4401 once this result is out, for the client to sign in again.
        const { admitted } = args.contextValue as { admitted: Admitted };
        if (deps.admission.isSubscription(admitted) && result.errors.some((error) => error.extensions?.code === ErrorCode.UNAUTHENTICATED)) {
          setImmediate(() => ctx.extra.socket.close(CloseCode.Unauthorized, 'The sign-in is over: sign in again, then connect again'));
        }
        return { ...result, errors: result.errors.map((error) => (error instanceof GraphQLError ? error.toJSON() : error)) };
      },
      execute: (args) => {
        const { admitted, context, socket } = args.contextValue as { admitted: Admitted; context: GatewayContext; socket: SocketState };
        return single(deps, socket, admitted, context);
      },
      subscribe: (args) => {
        const { admitted, context, socket } = args.contextValue as { admitted: Admitted; context: GatewayContext & { logger: Logger }; socket: SocketState };
        if (!deps.admission.isSubscription(admitted)) return single(deps, socket, admitted, context);
        const release = deps.admission.reserve(socket.subscriber as Subscriber, socket.open + socket.running);
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

/** Try Again Later (RFC 6455's registry): graphql-ws's client connects again after it, as it should once auth answers. */
const TRY_AGAIN_LATER_CLOSE = 1013;

/**
 * Closes a connection whose access token was not let in, by why: 4401 for a token to renew or give (the
 * client refreshes and connects again), 4403 for a refusal that stands (FORBIDDEN), 1013 when auth could
 * not be asked (restarting, overloaded). Every refusal was 4403, after which clients, the example one
 * among them, gave up for good: an auth restart signed out everyone who connected during it.
 */
function refused(socket: WebSocketExtra['socket'], refusal: GraphQLError): false {
  const code = refusal.extensions.code;
  if (code === ErrorCode.UNAUTHENTICATED) socket.close(CloseCode.Unauthorized, 'Unauthorized: give a valid access token (refresh it), then connect again');
  else if (code !== ErrorCode.FORBIDDEN) socket.close(TRY_AGAIN_LATER_CLOSE, 'The access token could not be checked now: connect again shortly');
  // FORBIDDEN: graphql-ws closes it 4403 itself.
  return false;
}

/**
 * Runs a query or mutation sent on a WebSocket connection, which holds as many operations at once as it
 * may subscriptions (SUBSCRIPTIONS_MAX_PER_CONNECTION): 20,000 sent at once, unbounded, filled a gateway
 * worker's heap and ended it, with every connection on it, and no proxy in front sees one message from the next.
 */
async function single(deps: TransportDeps, socket: SocketState, admitted: Admitted, context: GatewayContext): Promise<ExecutionResult> {
  const most = deps.admission.maxPerConnection;
  if (socket.open + socket.running >= most) {
    return {
      errors: [
        new GraphQLError(`At most ${most} operations at once on one connection (subscriptions, and queries or mutations awaiting their answers)`, {
          // The others on the connection are answered within the subgraphs' timeout, most in well under a second.
          extensions: { code: ErrorCode.RATE_LIMITED, limit: 'connection', max: most, retryAfterSeconds: 1 },
        }),
      ],
    };
  }
  socket.running += 1;
  try {
    return await deps.admission.single(admitted, context);
  } finally {
    socket.running -= 1;
  }
}
