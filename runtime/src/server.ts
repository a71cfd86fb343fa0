// The HTTP side of every process: Apollo Server behind Express with the plugins all share, and a server for Prometheus alone.
import http from 'node:http';
import express from 'express';
import { GraphQLError, Kind, OperationTypeNode, type DocumentNode, type ExecutionResult } from 'graphql';
import { ApolloServer, type ApolloServerOptions, type ApolloServerPlugin, type BaseContext, type ContextFunction } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { expressMiddleware, type ExpressContextFunctionArgument } from '@as-integrations/express5';
import type { ServerConfig } from './config';
import { formatErrorFor, type ErrorTranslator } from './errors';
import { httpErrorHandler, listen, metricFailed, operationalRoutes } from './http';
import { createLogger, type LogDestination, type Logger } from './logger';
import { ServiceMetrics, scrapeText } from './metrics';
import { contextFailed, observabilityPlugin } from './observability';
import { within } from './poll';

/** Apollo Sandbox for a browser's GET /graphql outside production; nothing at all in production. */
function landingPage(production: boolean): ApolloServerPlugin {
  return production ? ApolloServerPluginLandingPageDisabled() : ApolloServerPluginLandingPageLocalDefault({ embed: true });
}

/**
 * A document that names no operation to run (an unknown operationName, several operations and no name)
 * or asks for a subscription, which these servers do not offer over HTTP: a client error, answered 400
 * with what is wrong, per GraphQL over HTTP. Left alone, the gateway's executor fails on them with 500.
 */
function operationChoicePlugin(): ApolloServerPlugin {
  const refuse = (message: string) => new GraphQLError(message, { extensions: { code: 'OPERATION_RESOLUTION_FAILURE', http: { status: 400 } } });
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, request }) {
          const operations = document.definitions.filter((definition) => definition.kind === Kind.OPERATION_DEFINITION);
          const chosen = request.operationName
            ? operations.find((operation) => operation.name?.value === request.operationName)
            : operations.length === 1
              ? operations[0]
              : undefined;
          if (!chosen) {
            throw refuse(
              request.operationName
                ? `Unknown operation named "${request.operationName}"; the document has ${operations.map((operation) => `"${operation.name?.value ?? '(anonymous)'}"`).join(', ')}`
                : 'The document has several operations: say which to run with operationName',
            );
          }
          if (chosen.operation === OperationTypeNode.SUBSCRIPTION) throw refuse('Subscriptions are not offered over HTTP: send a query or a mutation');
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
  /** Errors this process recognises, and what its clients are told instead (a subgraph's database unreachable). */
  translateError?: ErrorTranslator;
  /** Express middleware before the GraphQL endpoint's body parser (CORS...). */
  before?: express.RequestHandler[];
  /** Routes besides GraphQL and the operational ones (a JWKS, the internal API...). */
  routes?(app: express.Express): void;
  /**
   * Serves more on the same HTTP server (WebSocket upgrades, long-lived streams): called once before it
   * listens. What it returns is closed first when the server stops, so that long-lived connections end
   * (and their clients reconnect elsewhere) before requests in flight are drained.
   */
  attach?(httpServer: http.Server, app: express.Express): { close(): Promise<void> };
  /** Called when the server stops, after requests in flight have finished. */
  onStop?(): Promise<void>;
  /** The process's logger, if it has made one already; else one named after it (on `logDestination`, or stdout). */
  logger?: Logger;
  logDestination?: LogDestination;
  metrics?: ServiceMetrics;
  /**
   * False when another process serves this one's metrics: a gateway worker, whose primary aggregates
   * every worker's (a worker's own would show a fraction of the gateway).
   */
  serveMetrics?: boolean;
}

export interface GraphQLServer {
  readonly app: express.Express;
  /**
   * Runs an operation as POST /graphql would (plugins, limits, error formatting), with `context` as its
   * context: for transports other than HTTP (WebSocket, SSE).
   */
  execute(request: { query: string | DocumentNode; variables?: Record<string, unknown>; operationName?: string }, context: object): Promise<ExecutionResult>;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
  /** Where Prometheus scrapes this process, once listening; undefined when metrics are not served. */
  readonly metricsUrl: string | undefined;
  /** Listens on the configured port (0 picks a free one) and returns the base URL. */
  listen(): Promise<string>;
  /** Stops accepting, lets requests in flight finish (bounded by the grace period), then `onStop`. */
  stop(): Promise<void>;
}

/**
 * Slow clients cannot hold connections: the request head, the whole request and an idle connection each
 * have a bound, checked every second (Node's default checks every 30 s, and allows 60 s for headers and
 * 300 s for a request).
 */
function boundedServer(handler: http.RequestListener, timeouts: ServerConfig['timeouts']): http.Server {
  const server = http.createServer({ connectionsCheckingInterval: 1000, headersTimeout: timeouts.headersMs, requestTimeout: timeouts.requestMs }, handler);
  server.keepAliveTimeout = timeouts.keepAliveMs;
  return server;
}

/** Where a metrics server reads its text: a prom-client registry, or a gateway primary's sum over its workers (gateway/src/cluster-metrics.ts). */
export interface MetricsSource {
  metrics(): Promise<string>;
  contentType: string;
}

/** A server for Prometheus alone: GET /metrics, nothing else. */
export function metricsOnly(source: MetricsSource, timeouts: ServerConfig['timeouts']): http.Server {
  return boundedServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: only GET /metrics is served here\n');
      return;
    }
    source.metrics().then(
      (text) => res.writeHead(200, { 'content-type': source.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  }, timeouts);
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
  const httpServer = boundedServer(app, config.timeouts);

  const { plugins = [], ...apolloOptions } = definition.apollo;
  const apollo = new ApolloServer<C>({
    ...(apolloOptions as ApolloServerOptions<C>),
    introspection: config.introspection,
    includeStacktraceInErrorResponses: !config.production,
    // "Did you mean …?" would describe the schema that introspection being off keeps to itself.
    hideSchemaDetailsFromClientErrors: config.production,
    formatError: formatErrorFor(config.production, definition.translateError),
    allowBatchedHttpRequests: false,
    // The process stops the server on SIGTERM itself (runtime's `serve`). Apollo's own handler would race
    // it: Apollo 5 leaves a second stop() waiting forever, and the process would hang until SIGKILL.
    stopOnTerminationSignals: false,
    logger: logger.child({ component: 'apollo' }),
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: config.shutdownGraceMs }),
      observabilityPlugin(metrics, definition.translateError, logger),
      operationChoicePlugin(),
      landingPage(config.production),
      ...plugins,
    ],
  });
  await apollo.start();

  // Metrics stay off the API port where one of their own is given, and in production always.
  const serveMetrics = definition.serveMetrics ?? true;
  const metricsHere = serveMetrics && config.metricsPort === undefined && !config.production;
  operationalRoutes(app, { trustProxy: config.trustProxy, ...(metricsHere ? { metrics } : {}), logger, checkReady: () => definition.checkReady() });
  if (serveMetrics && config.metricsPort === undefined && config.production) {
    logger.warn('metrics are not served: set METRICS_PORT to give them a port of their own');
  }
  const metricsServer =
    !serveMetrics || config.metricsPort === undefined
      ? undefined
      : metricsOnly({ contentType: metrics.registry.contentType, metrics: () => scrapeText(metrics.registry, metricFailed(logger)) }, config.timeouts);
  definition.routes?.(app);
  const attached = definition.attach?.(httpServer, app);
  const context: ContextFunction<[ExpressContextFunctionArgument], C> = async (args) => {
    const requestId = String(args.res.locals.requestId);
    const base = { requestId, logger: logger.child({ requestId }) };
    try {
      return await definition.context(args, base);
    } catch (error) {
      // For the observability plugin's line about it, which would otherwise not know the request.
      contextFailed(error, { logger: base.logger, body: args.req.body });
      throw error;
    }
  };
  app.use('/graphql', ...(definition.before ?? []), express.json({ limit: config.bodyLimitBytes }), expressMiddleware(apollo, { context }));
  app.use(httpErrorHandler(logger));

  let stopped = false;
  let metricsUrl: string | undefined;
  return {
    app,
    async execute(request, contextValue) {
      const response = await apollo.executeOperation(request, { contextValue: contextValue as C });
      if (response.body.kind === 'single') return response.body.singleResult as ExecutionResult;
      return { errors: [new GraphQLError('Incremental delivery is not offered here', { extensions: { code: 'BAD_REQUEST' } })] };
    },
    logger,
    metrics,
    get metricsUrl() {
      return metricsUrl;
    },
    async listen() {
      const { url } = await listen(httpServer, config.port, config.host, name);
      if (metricsServer) {
        metricsUrl = `${(await listen(metricsServer, config.metricsPort as number, config.host, `${name} metrics`, 'METRICS_PORT')).url}/metrics`;
      } else if (metricsHere) {
        metricsUrl = `${url}/metrics`;
      }
      logger.info({ url: `${url}/graphql`, ...(metricsUrl ? { metrics: metricsUrl } : {}) }, `${name} listening`);
      return url;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await attached?.close();
      await apollo.stop();
      if (metricsServer?.listening) await new Promise<void>((resolve) => metricsServer.close(() => resolve()));
      // Background work and pools get SHUTDOWN_GRACE_MS after the requests' own: a database that does not
      // answer (frozen, cut off) held a stop until it came back, and a replaced pod until it was killed.
      // Past the time, the stop fails, saying so, and the process leaves what it could not close.
      if (definition.onStop) {
        const late = `${name} could not close its connections within ${config.shutdownGraceMs} ms (SHUTDOWN_GRACE_MS): a database or peer does not answer`;
        await within(definition.onStop(), config.shutdownGraceMs, late);
      }
      logger.info('stopped');
    },
  };
}
