import http from 'node:http';
import express from 'express';
import type { DocumentNode } from 'graphql';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { expressMiddleware } from '@as-integrations/express5';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import type { DestinationStream } from 'pino';
import { assertMigrated, connectOrExplain, createServiceClient, type QueryEvent, type Service, type ServiceClient } from '@fedstack/shared-db';
import { accountView, applyAccountPolicy, type AccountStateSource } from './accounts';
import type { ServiceConfig } from './config';
import { ErrorCode, formatErrorFor, isClientSafe } from './errors';
import { httpErrorHandler, listen, operationalRoutes } from './http';
import { createInternalClient, internalCallVerifier, internalIdentity, internalRoutes, type InternalClient, type InternalHandlers } from './internal';
import { resolveVerificationKey } from './keys';
import { createLogger, type Logger } from './logger';
import { ServiceMetrics } from './metrics';
import { OutboxRelay } from './outbox';
import { authenticate, createTokenVerifier, type RequestAuth, type TokenVerifier } from './tokens';

/** What every subgraph's context starts from. */
export interface RequestContext {
  requestId: string;
  logger: Logger;
  auth: RequestAuth;
  /** The client's address as the trusted proxies (the gateway) report it. */
  clientAddress: string | undefined;
  userAgent: string | undefined;
}

/** What lives for the whole process and a subgraph's code is given: its database and the other services. */
export interface SubgraphDeps<S extends Service> {
  db: ServiceClient<S>;
  /** Calls other services' internal API. */
  services: InternalClient;
  logger: Logger;
}

/** Background work that runs while the server does (admin finishing interrupted erasures). */
export interface BackgroundWorker {
  start(): void;
  stop(): Promise<void>;
}

/** What a subgraph contributes: its schema, resolvers and per-request context; the kit does the rest. */
export interface SubgraphDefinition<S extends Service, C extends RequestContext> {
  service: S;
  typeDefs: DocumentNode;
  /** Generated resolver types differ in shape from Apollo's resolver map; both are checked at build. */
  resolvers: object;
  /** Builds one request's context: called once per request, so loaders in it are never shared. */
  context(request: RequestContext, deps: SubgraphDeps<S>): C;
  /** Extra HTTP routes (auth's JWKS). */
  routes?(app: express.Express): void;
  /**
   * Where a request's account is looked up for the account policy. By default the service's own view,
   * kept current by auth's events; auth, which owns the accounts, reads its own tables.
   */
  accountStates?(db: ServiceClient<S>): AccountStateSource;
  /** Internal commands and events this service accepts (besides auth's account events, which every view takes). */
  internal?(deps: SubgraphDeps<S>): InternalHandlers;
  /** True when the service writes events to an outbox: a relay then runs in every one of its processes. */
  publishes?: boolean;
  workers?(deps: SubgraphDeps<S>): BackgroundWorker[];
}

export interface SubgraphServerOptions {
  config: ServiceConfig;
  /** Defaults to a verifier over the key the config names. */
  verifyToken?: TokenVerifier;
  /** Where JSON logs go; stdout by default. */
  logDestination?: DestinationStream;
  /** Called for every SQL statement, in addition to the metrics. */
  onQuery?: (event: QueryEvent) => void;
}

export interface SubgraphServer<S extends Service> {
  readonly app: express.Express;
  readonly db: ServiceClient<S>;
  /** The outbox relay, for services that publish events. */
  readonly relay: OutboxRelay | undefined;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
  /**
   * Fails with one line naming the setting if the database cannot be reached with the configured
   * connection, or its schema lacks a migration this code needs.
   */
  checkDatabase(): Promise<void>;
  /** Listens on the configured port (0 picks a free one) and returns the base URL. */
  listen(): Promise<string>;
  /** Stops accepting, lets requests in flight finish (bounded by the grace period), closes the pool. */
  stop(): Promise<void>;
}

/** Apollo Sandbox for a browser's GET /graphql outside production; nothing at all in production. */
export function landingPage(production: boolean): ApolloServerPlugin {
  return production ? ApolloServerPluginLandingPageDisabled() : ApolloServerPluginLandingPageLocalDefault({ embed: true });
}

/** Metrics and a log line for every operation, and the real error behind every masked one. */
export function observabilityPlugin(metrics: ServiceMetrics): ApolloServerPlugin<{ logger: Logger }> {
  return {
    async requestDidStart({ contextValue }) {
      const started = performance.now();
      const codes: string[] = [];
      return {
        async didEncounterErrors({ errors, operationName }) {
          for (const error of errors) {
            const safe = isClientSafe(error);
            const code = safe ? String(error.extensions?.code ?? ErrorCode.INTERNAL_SERVER_ERROR) : ErrorCode.INTERNAL_SERVER_ERROR;
            codes.push(code);
            metrics.errors.inc({ code });
            if (!safe) {
              contextValue.logger.error(
                { err: unwrapResolverError(error), path: error.path, operationName },
                'internal error while resolving an operation',
              );
            }
          }
        },
        async willSendResponse({ operationName }) {
          const durationMs = performance.now() - started;
          const operation = metrics.operationLabel(operationName);
          metrics.requests.inc({ operation, outcome: codes.length ? 'error' : 'ok' });
          metrics.requestDuration.observe({ operation }, durationMs / 1000);
          contextValue.logger.info(
            { operationName, durationMs: Math.round(durationMs * 10) / 10, ...(codes.length ? { errorCodes: codes } : {}) },
            'graphql operation',
          );
        },
      };
    },
  };
}

/**
 * Builds a subgraph's HTTP server without listening: Apollo Server with the subgraph's schema on
 * Express, health and metrics routes, JSON logs, token verification and error masking.
 */
export async function createSubgraphServer<S extends Service, C extends RequestContext>(
  definition: SubgraphDefinition<S, C>,
  options: SubgraphServerOptions,
): Promise<SubgraphServer<S>> {
  const { config } = options;
  const logger = createLogger(definition.service, config.logLevel, options.logDestination);
  const metrics = new ServiceMetrics({ service: definition.service });
  const db = createServiceClient(definition.service, {
    url: config.databaseUrl,
    poolSize: config.poolSize,
    onQuery: options.onQuery
      ? (event) => {
          metrics.observeQuery(event);
          options.onQuery?.(event);
        }
      : metrics.observeQuery,
  });
  const verifyToken =
    options.verifyToken ??
    createTokenVerifier({
      key: await resolveVerificationKey(config.tokens),
      issuer: config.tokens.issuer,
      audience: config.tokens.audience,
    });

  const identity = await internalIdentity(definition.service, config.internal.privateKey);
  const services = createInternalClient({ identity, peers: config.internal.peers, timeoutMs: config.internal.timeoutMs });
  const deps: SubgraphDeps<S> = { db, services, logger };
  const view = definition.accountStates ? undefined : accountView(definition.service, db);
  const accounts = definition.accountStates?.(db) ?? (view as AccountStateSource);
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

  const app = express();
  const httpServer = http.createServer(app);
  // Longer than the gateway's idle keep-alive, so that the gateway, not us, closes idle connections.
  httpServer.keepAliveTimeout = 75_000;
  httpServer.headersTimeout = 76_000;

  const apollo = new ApolloServer<C>({
    schema: buildSubgraphSchema({
      typeDefs: definition.typeDefs,
      resolvers: definition.resolvers as GraphQLResolverMap<unknown>,
    }),
    introspection: config.introspection,
    includeStacktraceInErrorResponses: !config.production,
    formatError: formatErrorFor(config.production),
    allowBatchedHttpRequests: false,
    logger: logger.child({ component: 'apollo' }),
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: config.shutdownGraceMs }),
      observabilityPlugin(metrics) as ApolloServerPlugin<C>,
      landingPage(config.production),
      // No field here declares a cache hint; computing the cache policy cost time on every field of every response.
      ApolloServerPluginCacheControlDisabled(),
    ],
  });
  await apollo.start();

  operationalRoutes(app, {
    trustProxy: config.trustProxy,
    metrics,
    logger,
    async checkReady() {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          db.$queryRaw`SELECT 1`.catch(() => Promise.reject(new Error('database unreachable'))),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error('database did not answer within 2 s')), 2000);
          }),
        ]);
      } finally {
        clearTimeout(timer);
      }
    },
  });
  definition.routes?.(app);
  const own = definition.internal?.(deps) ?? {};
  internalRoutes(app, {
    identity,
    verify: internalCallVerifier(definition.service, config.internal.peers, config.internal.timeoutMs),
    logger,
    bodyLimitBytes: config.bodyLimitBytes,
    handlers: { commands: own.commands ?? {}, events: { ...view?.handlers, ...own.events } },
  });
  app.use(
    '/graphql',
    express.json({ limit: config.bodyLimitBytes }),
    expressMiddleware(apollo, {
      context: async ({ req, res }) => {
        const requestId = String(res.locals.requestId);
        const token = await authenticate(req.headers.authorization, verifyToken);
        const request: RequestContext = {
          requestId,
          logger: logger.child({ requestId }),
          auth: token.viewer ? applyAccountPolicy(token.viewer, await accounts.lookup(token.viewer.userId, token.viewer.sessionId)) : token,
          clientAddress: req.ip,
          userAgent: req.headers['user-agent']?.slice(0, 512),
        };
        return definition.context(request, deps);
      },
    }),
  );
  app.use(httpErrorHandler(logger));

  return {
    app,
    db,
    relay,
    logger,
    metrics,
    async checkDatabase() {
      await (await connectOrExplain(config.databaseUrl, config.databaseSetting)).end();
      await assertMigrated(definition.service, config.databaseUrl, config.databaseSetting);
    },
    async listen() {
      const { url } = await listen(httpServer, config.port, config.host, definition.service);
      logger.info({ url: `${url}/graphql` }, `${definition.service} subgraph listening`);
      await relay?.start();
      for (const worker of workers) worker.start();
      return url;
    },
    async stop() {
      await apollo.stop();
      await Promise.all(workers.map((worker) => worker.stop()));
      await relay?.stop();
      await services.close();
      await db.$disconnect();
      logger.info('stopped');
    },
  };
}

/**
 * Runs a server process: builds and starts it, stops it gracefully on SIGINT or SIGTERM, and turns a
 * start-up failure into one line on stderr and exit code 1.
 */
export function serve(start: () => Promise<{ stop(): Promise<void>; logger: Logger }>): void {
  start().then(
    (server) => {
      let stopping = false;
      const shutdown = (signal: NodeJS.Signals) => {
        if (stopping) return;
        stopping = true;
        server.logger.info({ signal }, 'shutting down');
        server.stop().then(
          () => process.exit(0),
          (error: unknown) => {
            server.logger.error({ err: error }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', shutdown);
      process.on('SIGTERM', shutdown);
    },
    (error: unknown) => {
      console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}
