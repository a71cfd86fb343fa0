// A subgraph's server: what each subgraph declares of itself, and service-kit's server built from that.
import type http from 'node:http';
import type express from 'express';
import type { DocumentNode } from 'graphql';
import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import { ServiceMetrics, createGraphQLServer, createLogger, type GraphQLServer, type LogDestination, type Logger, type Service } from '@fedstack/runtime';
import { assertMigrated, connectOrExplain, createServiceClient, type QueryEvent, type ServiceClient } from '@fedstack/shared-db';
import { accountView, applyAccountPolicy, type AccountSnapshot, type AccountStateSource, type ViewerRow } from './accounts';
import { databaseMetrics } from './database-metrics';
import { databaseOutage } from './database-outage';
import type { ServiceConfig, SubscriptionLimits } from './config';
import {
  createInternalClient,
  internalCallVerifier,
  internalIdentity,
  internalRoutes,
  replayGuard,
  type InternalClient,
  type InternalHandlers,
} from './internal-api';
import { gatewayCheck, requestChecks } from './gateway-only';
import { refusedLiteral, textRulePlugin, withTextRule, type TextLimits } from './text';
import { resolveVerificationKey } from './keys';
import { OutboxRelay } from './outbox';
import { RequestReads, positionAfterWrites, readYourWritesPlugin } from './read-your-writes';
import { LiveHub, serveSubgraphSubscriptions } from './subscriptions';
import { authenticate, createTokenVerifier, type RequestAuth, type TokenVerifier } from './tokens';

/** What every subgraph's context starts from; `R`, the viewer's row that the service's account check reads (SubgraphDefinition.viewerRow). */
export interface RequestContext<R = never> {
  requestId: string;
  logger: Logger;
  auth: RequestAuth;
  /** What the account policy was applied to, as this request's lookup read it (on the primary); not for subscriptions' events. */
  account?: AccountSnapshot | null;
  /**
   * The viewer's row that the account check read (null: none), on the primary as the request began; absent
   * when the service's check reads none or the request has no viewer (the policy refused the account).
   */
  viewerRow?: R | null;
  /** The client's address as the trusted proxies (the gateway) report it. */
  clientAddress: string | undefined;
  userAgent: string | undefined;
  /** Where the request's reads may go (a replica that has its client's writes), and the positions its writes reached. */
  reads: RequestReads;
}

/** What lives for the whole process and a subgraph's code is given: its database and the other services. */
export interface SubgraphDeps<S extends Service> {
  db: ServiceClient<S>;
  /** Calls other services' internal API. */
  services: InternalClient;
  logger: Logger;
  /** The process's metrics, for background work's own. */
  metrics: ServiceMetrics;
}

/** Background work that runs while the server does (a WorkQueue: admin finishing interrupted erasures...). */
export interface BackgroundWorker {
  start(): void;
  stop(): Promise<void>;
}

/** What a subgraph contributes: its schema, resolvers and per-request context; the kit does the rest. */
export interface SubgraphDefinition<S extends Service, C extends RequestContext<R>, R = never> {
  service: S;
  typeDefs: DocumentNode;
  /** Generated resolver types differ in shape from Apollo's resolver map; both are checked at build. */
  resolvers: object;
  /**
   * Length limits of text arguments, by field and argument path (`{ 'Mutation.createPayment':
   * { 'input.description': 500 } }`); every other string argument may hold DEFAULT_TEXT_LIMIT characters.
   * Every string in every argument is checked for NUL and unpaired surrogates too, before the operation
   * runs (text.ts).
   */
  textLimits?: TextLimits;
  /** Builds one request's context: called once per request, so loaders in it are never shared. */
  context(request: RequestContext<R>, deps: SubgraphDeps<S>): C;
  /** Extra HTTP routes (auth's JWKS). */
  routes?(app: express.Express): void;
  /**
   * Where a request's account is looked up for the account policy. By default the service's own view,
   * kept current by auth's events; auth, which owns the accounts, reads its own tables.
   */
  accountStates?(db: ServiceClient<S>): AccountStateSource<R>;
  /** A row of the service's own about the viewer, read by its view's account check (not with `accountStates`). */
  viewerRow?: ViewerRow<R>;
  /** Internal commands and events this service accepts (besides auth's account events, which every view takes). */
  internal?(deps: SubgraphDeps<S>): InternalHandlers;
  /** True when the service writes events to an outbox: a relay then runs in every one of its processes. */
  publishes?: boolean;
  workers?(deps: SubgraphDeps<S>): BackgroundWorker[];
  /**
   * For a subgraph with Subscription fields: the NOTIFY channels they follow (`liveEvents(channel)`), which
   * every process LISTENs on, and the limits of the WebSocket connections the gateway subscribes through
   * (graphql-ws at /graphql on the subgraph's port; subscriptions/websocket.ts).
   */
  subscriptions?: { channels: readonly string[]; limits: SubscriptionLimits };
}

export interface SubgraphServerOptions {
  config: ServiceConfig;
  /** Defaults to a verifier over the key the config names. */
  verifyToken?: TokenVerifier;
  /** Where JSON logs go; stdout by default. */
  logDestination?: LogDestination;
  /** Called for every SQL statement, in addition to the metrics. */
  onQuery?: (event: QueryEvent) => void;
}

export interface SubgraphServer<S extends Service> extends GraphQLServer {
  readonly db: ServiceClient<S>;
  /** The outbox relay, for services that publish events. */
  readonly relay: OutboxRelay | undefined;
  /**
   * Fails with one line naming the setting if the database cannot be reached with the configured
   * connection, or its schema lacks a migration this code needs.
   */
  checkDatabase(): Promise<void>;
}

/**
 * Builds a subgraph's server without listening: the runtime's GraphQL server with the subgraph's schema,
 * its database client (its own role, its own pool), the account policy on every request's token, the
 * internal API, and the outbox relay, workers and subscriptions (their WebSocket server and LISTEN
 * connection) for services that have them.
 */
export async function createSubgraphServer<S extends Service, C extends RequestContext<R>, R = never>(
  definition: SubgraphDefinition<S, C, R>,
  options: SubgraphServerOptions,
): Promise<SubgraphServer<S>> {
  const { config } = options;
  const logger = createLogger(definition.service, config.logLevel, options.logDestination);
  // The gateway says which operations its persisted manifest lists: they keep their labels here too.
  const metrics = new ServiceMetrics({ service: definition.service }, { takesListedHeader: true });
  const database = databaseMetrics(metrics, definition.service, logger);
  const db = createServiceClient(definition.service, {
    url: config.databaseUrl,
    poolSize: config.poolSize,
    timeoutMs: config.poolTimeoutMs,
    replicas: config.replicas,
    replicaMaxLagMs: config.replicaMaxLagMs,
    onQuery: (event) => {
      database.observe(event);
      options.onQuery?.(event);
    },
    onConnectionLost: (error) => logger.warn({ reason: error.message }, 'lost the connection to the database; requests fail until it is back'),
  });
  const outage = databaseOutage(definition.service);
  const translateError = (error: unknown) => outage(error) ?? refusedLiteral(error);
  // Without its account the whole request fails: 503, which the gateway's circuit breaker counts.
  const requestOutage = databaseOutage(definition.service, { http: { status: 503 } });
  database.attach(db);
  const verifyToken =
    options.verifyToken ??
    createTokenVerifier({ key: await resolveVerificationKey(config.tokens, logger), issuer: config.tokens.issuer, audience: config.tokens.audience });
  const identity = await internalIdentity(definition.service, config.internal);
  const services = createInternalClient({ identity, peers: config.internal.peers, timeoutMs: config.internal.timeoutMs });
  // auth keeps the accounts itself; every other service keeps a view of them, fed by auth's events.
  const accounts: AccountStateSource<R> & Partial<Pick<ReturnType<typeof accountView>, 'handlers'>> =
    definition.accountStates?.(db) ?? accountView(definition.service, db, definition.viewerRow);
  const deps: SubgraphDeps<S> = { db, services, logger, metrics };
  const lookupAccount = (viewer: { userId: string; sessionId: string }) =>
    accounts.lookup(viewer.userId, viewer.sessionId).catch((error: unknown) => {
      throw requestOutage(error) ?? error;
    });
  const relay = definition.publishes
    ? new OutboxRelay({
        service: definition.service,
        databaseUrl: config.databaseUrl,
        client: services,
        logger: logger.child({ component: 'outbox' }),
        metrics,
        ...config.outbox,
        claimMs: 2 * config.internal.timeoutMs,
      })
    : undefined;
  const workers = definition.workers?.(deps) ?? [];
  const fromGateway = await gatewayCheck(definition.service, config.gateway);
  const schema = buildSubgraphSchema({ typeDefs: definition.typeDefs, resolvers: withTextRule(definition.resolvers) as GraphQLResolverMap<unknown> });
  const live = definition.subscriptions && {
    ...definition.subscriptions,
    hub: new LiveHub({
      service: definition.service,
      databaseUrl: config.databaseUrl,
      channels: definition.subscriptions.channels,
      maxBackoffMs: config.outbox.maxBackoffMs,
      logger: logger.child({ component: 'subscriptions' }),
    }),
  };

  const server = await createGraphQLServer<C>({
    name: definition.service,
    config,
    metrics,
    logger,
    before: requestChecks(definition.service, fromGateway, logger),
    apollo: {
      schema,
      // No field here declares a cache hint; computing the cache policy cost time on every field of every response.
      plugins: [ApolloServerPluginCacheControlDisabled(), textRulePlugin(definition.textLimits), readYourWritesPlugin(db, logger)],
    },
    async context({ req }, base) {
      const reads = RequestReads.forRequest(db, req.headers);
      const token = await authenticate(req.headers.authorization, verifyToken);
      const read = token.viewer ? await lookupAccount(token.viewer) : undefined;
      const auth = token.viewer ? applyAccountPolicy(token.viewer, read?.account ?? null) : token;
      const request: RequestContext<R> = {
        ...base,
        reads,
        auth,
        account: read?.account ?? null,
        ...(auth.viewer && read?.viewerRow !== undefined ? { viewerRow: read.viewerRow } : {}),
        clientAddress: req.ip,
        userAgent: req.headers['user-agent']?.slice(0, 512),
      };
      return definition.context(request, deps);
    },
    translateError,
    ...(live && {
      attach(httpServer: http.Server, app: express.Express) {
        const webSocket = serveSubgraphSubscriptions(httpServer, app, {
          service: definition.service,
          schema,
          textLimits: definition.textLimits,
          hub: live.hub,
          verifyToken,
          accounts,
          translateError,
          context: (request) => definition.context({ ...request, reads: RequestReads.onPrimary(db) }, deps),
          gatewayCheck: fromGateway,
          limits: { ...live.limits, maxPayloadBytes: config.bodyLimitBytes },
          production: config.production,
          logger,
          metrics,
        });
        return {
          // Subscribers first (1001, so that the gateway's connection goes elsewhere), then the events they heard.
          async close() {
            await webSocket.close();
            await live.hub.stop();
          },
        };
      },
    }),
    // Whether the database answers, not whether the pool has a connection free: every one busy (rows
    // locked, a slow erasure) took each process of the service out of its load balancer.
    checkReady: () => db.ping().catch(() => Promise.reject(new Error('database unreachable, or not answering within 1 s'))),
    routes(app) {
      definition.routes?.(app);
      const own = definition.internal?.(deps) ?? {};
      internalRoutes(app, {
        identity,
        verify: internalCallVerifier(definition.service, config.internal.peers, config.internal.timeoutMs),
        firstUse: replayGuard(db, definition.service),
        position: positionAfterWrites(db, logger),
        logger,
        bodyLimitBytes: config.bodyLimitBytes,
        handlers: { commands: own.commands ?? {}, events: { ...accounts.handlers, ...own.events } },
      });
    },
    async onStop() {
      await Promise.all(workers.map((worker) => worker.stop()));
      await relay?.stop();
      await services.close();
      await db.$disconnect();
    },
  });
  return {
    ...server,
    db,
    relay,
    async checkDatabase() {
      await (await connectOrExplain(config.databaseUrl, config.databaseSetting)).end();
      await assertMigrated(definition.service, config.databaseUrl, config.databaseSetting);
      await db.verifyReplicas();
    },
    async listen() {
      // Listening for events before any subscription can be made.
      await live?.hub.start();
      const url = await server.listen();
      await relay?.start();
      for (const worker of workers) worker.start();
      return url;
    },
  };
}
