// A subgraph's subscriptions over graphql-ws on its own port: the gateway's connection checked, each subscription's client checked as a request's is, its events delivered while it may hold them.
import type http from 'node:http';
import type express from 'express';
import {
  GraphQLError,
  createSourceEventStream,
  execute,
  locatedError,
  parse,
  type ExecutionResult,
  type FormattedExecutionResult,
  type GraphQLSchema,
} from 'graphql';
import {
  ErrorCode,
  GATEWAY_ASSERTION_HEADER,
  beginSpan,
  clientAddressOf,
  formatErrorFor,
  logThrottle,
  requestIdOf,
  serveGraphQLOverWebSocket,
  unauthenticated,
  type ErrorTranslator,
  type GraphQLWebSocketServer,
  type Logger,
  type OpenSpan,
  type ServiceMetrics,
  type Service,
  type TrustProxy,
} from '@fedstack/runtime';
import { applyAccountPolicy, type AccountStateSource } from '../accounts';
import type { SubscriptionLimits } from '../config';
import type { GatewayCheck } from '../gateway-only';
import type { RequestContext } from '../server';
import type { TextLimits } from '../text';
import { authenticate, type RequestAuth, type TokenVerifier, type Viewer } from '../tokens';
import { LiveFeed, UnconfirmedEvent, type RowEvent } from './feed';
import { eventsMissed, type LiveHub } from './hub';
import { LiveSubscription } from './live';
import { subgraphSubscriptionMetrics } from './metrics';
import { clientHeaders, prepareSubscription, refusedIfThrown, tooManyOnConnection, type PreparedSubscription, type Refusal } from './prepare';
import { heldOn, type HeldBytes } from './queue';

/** Keep-alive pings (the gateway's client pings too). */
const KEEP_ALIVE_MS = 12_000;
/** What the headers the gateway forwards with a subscription add to its frame at most: Node bounds a request's headers at 16 KiB. */
const FORWARDED_HEADERS_ROOM_BYTES = 32 * 1024;
/** Time a connection has to send `connection_init`. */
const INIT_TIMEOUT_MS = 5_000;
/** Events and checks waiting, and results unsent, beyond which one subscription has fallen behind. */
const MAX_BACKLOG = 1_000;
/** What graphql-ws is handed for a refusal, which it needs a document for; only the refusal is answered. */
const REFUSED = parse('subscription Refused { __typename }');

export interface SubgraphSubscriptionOptions {
  service: Service;
  schema: GraphQLSchema;
  textLimits: TextLimits | undefined;
  hub: LiveHub;
  /** The HTTP path's token verifier, account source and error translation: one rule for both. */
  verifyToken: TokenVerifier;
  accounts: AccountStateSource<unknown>;
  translateError: ErrorTranslator;
  /** The subgraph's context for one execution (each event gets a fresh one: fresh loaders). */
  context(request: Omit<RequestContext, 'reads'>): object;
  /** The gateway's assertion, when REQUIRE_GATEWAY is on. */
  gatewayCheck: GatewayCheck | undefined;
  limits: SubscriptionLimits & { maxPayloadBytes: number };
  production: boolean;
  logger: Logger;
  metrics: ServiceMetrics;
}

/** What one subscribe message is given to run with (graphql-ws's `contextValue`). */
interface Start {
  prepared: PreparedSubscription | Refusal;
  remoteAddress: string | undefined;
  logger: Logger;
  /** The span of its start, under the gateway's (its checks, the account's lookup, the resolver's first reads). */
  span: OpenSpan;
  /** What its connection's subscriptions hold. */
  held: HeldBytes;
}

/** What createSourceEventStream answers when the resolver gave a stream rather than a refusal. */
const isStream = (value: ExecutionResult | AsyncIterable<unknown>): value is AsyncIterable<unknown> => Symbol.asyncIterator in value;

/**
 * A subscription without a token of its own takes the one its connection was opened with
 * (`connection_init`'s `authorization`): how gateways that authenticate a connection per client, such
 * as Hive Gateway's graphql-ws transport, pass it. Either way the token is verified as for a request.
 */
function withConnectionToken(
  prepared: PreparedSubscription | Refusal,
  connectionParams: Readonly<Record<string, unknown>> | undefined,
): PreparedSubscription | Refusal {
  const token = connectionParams?.authorization;
  if ('refusal' in prepared || prepared.headers.authorization !== undefined || typeof token !== 'string') return prepared;
  return { ...prepared, headers: { ...prepared.headers, authorization: token } };
}

/**
 * Serves the contract the gateway subscribes by (gateway/src/subscriptions/upstream.ts): graphql-ws
 * (`graphql-transport-ws`) at /graphql on the subgraph's own port. The connection carries the gateway's
 * assertion in `connection_init` (refused 4403 without a good one when REQUIRE_GATEWAY is on); each
 * subscription carries its client's headers in `extensions.headers`, from which its context is built as
 * a request's is (the token verified, the account policy applied, the request id, a logger), after the
 * same checks (text.ts's rule included). Each result is a plain GraphQL result with
 * `extensions.committedAt`. A refusal, and the end of a subscription its subscriber may no longer hold,
 * are one result with the error, then the end: never a protocol error. Queries and mutations are refused.
 */
export function serveSubgraphSubscriptions(httpServer: http.Server, app: express.Express, options: SubgraphSubscriptionOptions): GraphQLWebSocketServer {
  const { schema, hub, limits, service } = options;
  const logger = options.logger.child({ component: 'subscriptions' });
  const format = formatErrorFor(options.production, options.translateError);
  const trust = app.get('trust proxy fn') as TrustProxy;
  const metrics = subgraphSubscriptionMetrics(options.metrics.registry, hub);
  // Each sign-in's account is looked up once for all its subscriptions and events, and again after each change to it (LiveHub.account).
  const accountOf = (viewer: Viewer) =>
    hub.account(viewer.userId, viewer.sessionId, async () => (await options.accounts.lookup(viewer.userId, viewer.sessionId)).account);

  const unconfirmed = logThrottle();
  /** The event's result, or undefined (logged) when the resolver found the row does not bear the event out. */
  const confirmed = (result: ExecutionResult, event: RowEvent): ExecutionResult | undefined => {
    const refusal = result.errors?.find((error) => error.originalError instanceof UnconfirmedEvent);
    if (!refusal) return result;
    unconfirmed('event', (suppressed) =>
      logger.warn({ eventId: event.id, reason: refusal.message, ...(suppressed ? { suppressed } : {}) }, 'dropped an event its row does not bear out'),
    );
    return undefined;
  };

  /** The code a client is told for `error`, as formatting will show it. */
  const codeOf = (error: unknown): string => {
    const known = options.translateError(error)?.code ?? (error instanceof GraphQLError ? error.extensions.code : undefined);
    return typeof known === 'string' ? known : ErrorCode.INTERNAL_SERVER_ERROR;
  };

  /** Errors as the HTTP path shows them: translated, masked in production, counted, internal ones logged. */
  const shown = (result: ExecutionResult, log: Logger): FormattedExecutionResult => {
    const { errors, ...rest } = result;
    if (!errors) return rest;
    return {
      ...rest,
      errors: errors.map((error) => {
        const formatted = format(error.toJSON(), error);
        const given = formatted.extensions?.code;
        const code: string = typeof given === 'string' ? given : ErrorCode.INTERNAL_SERVER_ERROR;
        options.metrics.errors.inc({ code });
        if (code === String(ErrorCode.INTERNAL_SERVER_ERROR))
          log.error({ err: error.originalError ?? error, path: error.path }, 'internal error in a subscription');
        return formatted;
      }),
    };
  };

  async function begin(start: Start, prepared: PreparedSubscription): Promise<ExecutionResult | AsyncIterable<ExecutionResult>> {
    const { headers } = prepared;
    const requestId = requestIdOf(headers.requestId);
    start.logger = logger.child({ requestId });
    const request = {
      requestId,
      logger: start.logger,
      clientAddress: clientAddressOf(start.remoteAddress, headers.forwardedFor, trust),
      userAgent: headers.userAgent?.slice(0, 512),
    };
    const token = await authenticate(headers.authorization, options.verifyToken);
    const lookup = async (viewer: Viewer): Promise<RequestAuth> => applyAccountPolicy(viewer, await accountOf(viewer));
    const run = (auth: RequestAuth, rootValue?: unknown) => ({
      schema,
      document: prepared.document,
      operationName: prepared.operationName,
      variableValues: prepared.variables,
      rootValue,
      contextValue: options.context({ ...request, auth }),
    });
    const viewer = token.viewer;
    if (!viewer) {
      // Every field here wants a subscriber; without one, the resolver's own refusal (or this one).
      const stream = await createSourceEventStream(run(token));
      return isStream(stream) ? { errors: [token.error ?? unauthenticated()] } : stream;
    }
    const refused = hub.refusal(limits.maxPerProcess);
    if (refused) return { errors: [refused] };
    // Registered before anything is read, so that nothing committed from now on is missed.
    let following = false;
    const gone = metrics.started();
    const live = new LiveSubscription({
      hub,
      viewer,
      expiresAt: viewer.expiresAt,
      recheck: () => lookup(viewer),
      execute: async (event, auth) => confirmed(await execute(run(auth, event)), event),
      locate: (error) =>
        prepared.field ? locatedError(error, [prepared.field], [prepared.field.alias?.value ?? prepared.field.name.value]) : locatedError(error, []),
      maxBacklog: MAX_BACKLOG,
      maxEventBytes: limits.maxEventBytes,
      connection: start.held,
      maxConnectionBytes: limits.maxBufferedBytes,
      missed: (why) => eventsMissed(service, why),
      onEnd: (error) => {
        gone();
        const code = error === undefined ? undefined : codeOf(error);
        if (code) metrics.ended(code);
        if (following) start.logger.info({ userId: viewer.userId, ...(code ? { endedWith: code } : {}) }, 'subscription ended');
      },
    });
    try {
      const stream = await createSourceEventStream(run(await lookup(viewer)));
      if (isStream(stream) && !(stream instanceof LiveFeed)) {
        throw new Error("a subscribe resolver answered something other than liveEvents(...): subgraphs deliver only the database's committed changes");
      }
      if (!(stream instanceof LiveFeed)) {
        // The resolver refused (NOT_FOUND, FORBIDDEN...): its answer is the one result.
        void live.results.return();
        return stream;
      }
      if (!hub.follows(stream.channel))
        throw new Error(`no process of ${service} listens on ${stream.channel}: add it to the subgraph's subscriptions.channels`);
      following = true;
      start.logger.info({ userId: viewer.userId, operationName: prepared.operationName, channel: stream.channel }, 'subscription started');
      live.start(stream);
    } catch (error) {
      live.end(error);
    }
    return live.results;
  }

  return serveGraphQLOverWebSocket(httpServer, {
    path: '/graphql',
    // The gateway sends on a client's subscribe frame (held to the same MAX_BODY_BYTES there) with the client's
    // headers added: without room for them, a frame near the limit closed (1009) the gateway's connection,
    // every subscriber's; for the same reason, past its bound its sends wait rather than close it.
    limits: { ...limits, maxPayloadBytes: limits.maxPayloadBytes + FORWARDED_HEADERS_ROOM_BYTES, whenBehind: 'wait', keepAliveMs: KEEP_ALIVE_MS },
    logger,
    graphql: {
      schema,
      connectionInitWaitTimeout: INIT_TIMEOUT_MS,
      async onConnect(ctx) {
        if (!options.gatewayCheck) return true;
        const assertion = ctx.connectionParams?.[GATEWAY_ASSERTION_HEADER];
        const check = await options.gatewayCheck(typeof assertion === 'string' ? assertion : undefined);
        if (check.ok) return true;
        logger.warn({ reason: check.reason, remoteAddress: ctx.extra.remoteAddress }, 'refused a subscription connection that did not come from the gateway');
        return false;
      },
      onSubscribe(ctx, _id, payload) {
        // graphql-ws counts this one already.
        const open = Object.keys(ctx.subscriptions).length;
        const span = beginSpan('subscription start', { traceparent: clientHeaders(payload.extensions).traceparent, server: true });
        const prepared: PreparedSubscription | Refusal = span.run(() =>
          refusedIfThrown(logger, () =>
            open > limits.maxPerConnection
              ? tooManyOnConnection(limits.maxPerConnection)
              : withConnectionToken(prepareSubscription(schema, payload, options.textLimits), ctx.connectionParams),
          ),
        );
        const start: Start = { prepared, remoteAddress: ctx.extra.remoteAddress, logger, span, held: heldOn(ctx.extra) };
        return 'refusal' in prepared
          ? { schema, document: REFUSED, contextValue: start }
          : { schema, document: prepared.document, operationName: prepared.operationName, variableValues: prepared.variables, contextValue: start };
      },
      async subscribe(args) {
        const start = args.contextValue as Start;
        const { prepared, span } = start;
        let answer: ExecutionResult | AsyncIterable<ExecutionResult>;
        try {
          answer = 'refusal' in prepared ? prepared.refusal : await span.run(() => begin(start, prepared));
        } catch (error) {
          // Never thrown to graphql-ws, which would close the whole connection: one result with the error.
          answer = { errors: [error instanceof GraphQLError ? error : locatedError(error, [])] };
        }
        span.end('errors' in answer ? answer.errors?.[0]?.message : undefined);
        return answer;
      },
      onNext(_ctx, _id, _payload, args, result) {
        if (result.extensions?.committedAt) metrics.sent();
        return shown(result, (args.contextValue as Start).logger);
      },
    },
  });
}
