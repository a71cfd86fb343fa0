import http from 'node:http';
import express from 'express';
import { ApolloServer, type ApolloServerOptions, type ApolloServerPlugin, type BaseContext, type ContextFunction } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { expressMiddleware, type ExpressContextFunctionArgument } from '@as-integrations/express5';
import type { ServerConfig } from './config';
import { ErrorCode, formatErrorFor, isClientSafe } from './errors';
import { httpErrorHandler, listen, operationalRoutes } from './http';
import { createLogger, type LogDestination, type Logger } from './logger';
import { ServiceMetrics } from './metrics';

/** Apollo Sandbox for a browser's GET /graphql outside production; nothing at all in production. */
function landingPage(production: boolean): ApolloServerPlugin {
  return production ? ApolloServerPluginLandingPageDisabled() : ApolloServerPluginLandingPageLocalDefault({ embed: true });
}

/** Metrics and a log line for every operation, and the real error behind every masked one. */
function observabilityPlugin(metrics: ServiceMetrics): ApolloServerPlugin<{ logger: Logger }> {
  return {
    async requestDidStart({ contextValue }) {
      const started = performance.now();
      const codes: string[] = [];
      return {
        async didEncounterErrors({ errors, operationName }) {
          for (const error of errors) {
            const safe = isClientSafe(error);
            const given = error.extensions?.code;
            const code = safe && typeof given === 'string' ? given : ErrorCode.INTERNAL_SERVER_ERROR;
            codes.push(code);
            metrics.errors.inc({ code });
            if (!safe) {
              contextValue.logger.error({ err: unwrapResolverError(error), path: error.path, operationName }, 'internal error while resolving an operation');
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

/** What a GraphQL server is made of besides the parts every one has. */
export interface GraphQLServerDefinition<C extends BaseContext & { logger: Logger }> {
  /** The process's name, in its logs, metrics and errors (gateway, auth...). */
  name: string;
  config: ServerConfig;
  /** Apollo Server's own options: a schema or a gateway, parse options, and plugins of its own. */
  apollo: Omit<ApolloServerOptions<C>, 'plugins' | 'formatError' | 'introspection' | 'includeStacktraceInErrorResponses' | 'logger'> & {
    plugins?: ApolloServerPlugin<C>[];
  };
  /** Builds one request's context; `base` has the request id and a logger bound to it. */
  context(args: ExpressContextFunctionArgument, base: { requestId: string; logger: Logger }): Promise<C>;
  /** Ready to serve (GET /readyz): resolves, or throws with the reason. */
  checkReady(): Promise<void>;
  /** Express middleware before the GraphQL endpoint's body parser (CORS...). */
  before?: express.RequestHandler[];
  /** Routes besides GraphQL and the operational ones (a JWKS, the internal API...). */
  routes?(app: express.Express): void;
  /** Called when the server stops, after requests in flight have finished. */
  onStop?(): Promise<void>;
  /** The process's logger, if it has made one already; else one named after it (on `logDestination`, or stdout). */
  logger?: Logger;
  logDestination?: LogDestination;
  metrics?: ServiceMetrics;
}

export interface GraphQLServer {
  readonly app: express.Express;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
  /** Listens on the configured port (0 picks a free one) and returns the base URL. */
  listen(): Promise<string>;
  /** Stops accepting, lets requests in flight finish (bounded by the grace period), then `onStop`. */
  stop(): Promise<void>;
}

/**
 * The one GraphQL HTTP server every process runs (gateway and subgraphs alike): Apollo Server on
 * Express at POST /graphql, with request ids, JSON logs, `/healthz`, `/readyz` and `/metrics`, error
 * masking in production, GraphQL-shaped answers to HTTP-level errors, and a graceful stop.
 */
export async function createGraphQLServer<C extends BaseContext & { logger: Logger }>(definition: GraphQLServerDefinition<C>): Promise<GraphQLServer> {
  const { config, name } = definition;
  const logger = definition.logger ?? createLogger(name, config.logLevel, definition.logDestination);
  const metrics = definition.metrics ?? new ServiceMetrics({ service: name });
  const app = express();
  const httpServer = http.createServer(app);
  // Longer than the idle keep-alive of whoever calls us (load balancers commonly keep 60 s, the gateway 30 s
  // to each subgraph), so that the caller closes an idle connection, never we under a request it sends.
  httpServer.keepAliveTimeout = 75_000;
  httpServer.headersTimeout = 76_000;

  const { plugins = [], ...apolloOptions } = definition.apollo;
  const apollo = new ApolloServer<C>({
    ...(apolloOptions as ApolloServerOptions<C>),
    introspection: config.introspection,
    includeStacktraceInErrorResponses: !config.production,
    formatError: formatErrorFor(config.production),
    allowBatchedHttpRequests: false,
    logger: logger.child({ component: 'apollo' }),
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: config.shutdownGraceMs }),
      observabilityPlugin(metrics),
      landingPage(config.production),
      ...plugins,
    ],
  });
  await apollo.start();

  operationalRoutes(app, { trustProxy: config.trustProxy, metrics, logger, checkReady: () => definition.checkReady() });
  definition.routes?.(app);
  const context: ContextFunction<[ExpressContextFunctionArgument], C> = (args) => {
    const requestId = String(args.res.locals.requestId);
    return definition.context(args, { requestId, logger: logger.child({ requestId }) });
  };
  app.use('/graphql', ...(definition.before ?? []), express.json({ limit: config.bodyLimitBytes }), expressMiddleware(apollo, { context }));
  app.use(httpErrorHandler(logger));

  let stopped = false;
  return {
    app,
    logger,
    metrics,
    async listen() {
      const { url } = await listen(httpServer, config.port, config.host, name);
      logger.info({ url: `${url}/graphql` }, `${name} listening`);
      return url;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await apollo.stop();
      await definition.onStop?.();
      logger.info('stopped');
    },
  };
}
