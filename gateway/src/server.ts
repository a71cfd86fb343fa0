// The gateway's server, with its supergraph reloaded from the file when it changes, and an offline explorer outside production.
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { ApolloGateway, type SupergraphSdlHook } from '@apollo/gateway';
import type * as AltairStatic from 'altair-static';
import cors from 'cors';
import express from 'express';
import {
  ConfigError,
  GATEWAY_DEVELOPMENT_KEY_FILE,
  ServiceMetrics,
  createGraphQLServer,
  createLogger,
  developmentPrivateKey,
  gatewayAssertions,
  parsePrivateKey,
  type GraphQLServer,
  type LogDestination,
  type Logger,
  type PrivateKeyPair,
  WAL_POSITIONS_HEADER,
  requestPositions,
} from '@fedstack/runtime';
import { answerMetricRequests } from './cluster-metrics';
import type { GatewayConfig } from './config';
import { operationLimits, operationLimitsPlugin } from './limits';
import { PersistedDocuments, apqCache, persistedDocumentsMiddleware } from './persisted';
import { shapingErrorsAsErrors } from './shaping-errors';
import {
  SubgraphDataSource,
  assertionReadiness,
  listedOperationPlugin,
  positionsPlugin,
  queryDeduplication,
  subgraphFailureLog,
  subgraphLinks,
  type GatewayContext,
} from './subgraphs';
import { gatewaySubscriptions } from './subscriptions';

export interface GatewayServerOptions {
  config: GatewayConfig;
  logDestination?: LogDestination;
  /** One of several workers (GATEWAY_WORKERS > 1): the primary serves every worker's metrics, aggregated. */
  clusterWorker?: boolean;
}

/**
 * Serves supergraph.graphql, reloading it when the file changes. A supergraph the gateway cannot load
 * is refused and logged; the previous one keeps serving.
 */
function supergraphFromFile(config: GatewayConfig, logger: Logger): SupergraphSdlHook {
  return async ({ update }) => {
    let current: string;
    try {
      current = readFileSync(config.supergraphFile, 'utf8');
    } catch (error) {
      throw new ConfigError(
        `SUPERGRAPH_FILE: cannot read ${config.supergraphFile} (${(error as NodeJS.ErrnoException).code ?? String(error)}): run npm run compose, or point it at a supergraph`,
      );
    }
    const onChange = () => {
      let next: string;
      try {
        next = readFileSync(config.supergraphFile, 'utf8');
      } catch (error) {
        logger.error({ err: error, file: config.supergraphFile }, 'supergraph file unreadable; keeping the current supergraph');
        return;
      }
      if (next === current) return;
      try {
        update(next);
        current = next;
        logger.info({ file: config.supergraphFile }, 'supergraph reloaded');
      } catch (error) {
        logger.error({ err: error, file: config.supergraphFile }, 'new supergraph refused; the previous one keeps serving');
      }
    };
    watchFile(config.supergraphFile, { interval: config.supergraphPollMs }, onChange);
    return { supergraphSdl: current, cleanup: async () => unwatchFile(config.supergraphFile, onChange) };
  };
}

/** Where the offline explorer is served, outside production. */
export const EXPLORER_PATH = '/explorer';

const FIRST_QUERY = `mutation SignIn {
  login(input: { email: "admin@example.com", password: "admin-demo-password" }) {
    accessToken
    user { email role }
  }
}
`;

/**
 * Altair, a GraphQL explorer served from the project's own dependencies (altair-static), at
 * /explorer/: unlike Apollo Sandbox at GET /graphql, it needs no internet. It runs subscriptions over
 * graphql-ws (the access token goes in its subscription "connection parameters" as `authorization`).
 */
function explorerRoutes(app: express.Express): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded here, outside production only: the module holds Altair's whole page (about 7 MB of heap)
  const { getDistDirectory, renderAltair } = require('altair-static') as typeof AltairStatic;
  // The page names the WebSocket endpoint for subscriptions absolutely (a browser opens a WebSocket by
  // full URL), so it is rendered for the host the browser asked, once per host.
  const pages = new Map<string, string>();
  const pageFor = (request: express.Request) => {
    const endpoint = `${request.protocol === 'https' ? 'wss' : 'ws'}://${request.headers.host ?? 'localhost'}/graphql`;
    let page = pages.get(endpoint);
    if (!page) {
      page = renderAltair({
        baseURL: `${EXPLORER_PATH}/`,
        endpointURL: '/graphql',
        subscriptionsEndpoint: endpoint,
        initialSubscriptionRequestHandlerId: 'graphql-ws',
        initialQuery: FIRST_QUERY,
        disableAccount: true,
        initialSettings: { 'alert.disableUpdateNotification': true, 'banners.disable': true },
      });
      if (pages.size < 16) pages.set(endpoint, page);
    }
    return page;
  };
  // Express matches /explorer and /explorer/ alike; the page's relative asset URLs need the slash.
  app.get(EXPLORER_PATH, (req, res) => {
    if (req.path.endsWith('/')) res.type('html').send(pageFor(req));
    else res.redirect(301, `${EXPLORER_PATH}/`);
  });
  app.use(EXPLORER_PATH, express.static(getDistDirectory(), { index: false, maxAge: '1d' }));
}

/** The key the gateway signs its assertions with: GATEWAY_PRIVATE_KEY, else the development key. */
async function assertionKey(config: GatewayConfig): Promise<PrivateKeyPair> {
  if (config.assertionKey) return parsePrivateKey(config.assertionKey.value, config.assertionKey.setting);
  return developmentPrivateKey(GATEWAY_DEVELOPMENT_KEY_FILE);
}

/** Builds the gateway's HTTP server (not yet listening): Apollo Gateway with limits, CORS, health and metrics. */
export async function createGatewayServer(options: GatewayServerOptions): Promise<GraphQLServer> {
  const { config } = options;
  const logger = createLogger('gateway', config.logLevel, options.logDestination);
  const metrics = new ServiceMetrics({ service: 'gateway' });
  // First: a bad manifest fails the start before anything else is made.
  const documents = new PersistedDocuments(config.persisted, metrics, logger.child({ component: 'persisted-documents' }));
  const links = subgraphLinks(
    {
      connections: config.subgraphConnections,
      timeoutMs: config.subgraphTimeoutMs,
      maxResponseBytes: config.subgraphMaxResponseBytes,
      breaker: config.breaker,
    },
    metrics.registry,
    logger.child({ component: 'subgraphs' }),
  );
  const failures = subgraphFailureLog(logger.child({ component: 'subgraphs' }));
  const assertionFor = gatewayAssertions(await assertionKey(config));
  const limits = operationLimits(config.limits);

  // One data source per subgraph, shared by queries and by the rest of each subscription's plan; a new one
  // when a reloaded supergraph moves the subgraph (its link, pool and breaker stay the name's).
  const dataSources = new Map<string, SubgraphDataSource>();
  const shareQueries = config.deduplicateQueries ? queryDeduplication() : undefined;
  const dataSourceFor = (name: string, routingUrl: string) => {
    const url = config.subgraphUrls[name] ?? routingUrl;
    let source = dataSources.get(name);
    if (source?.url !== url) {
      source = new SubgraphDataSource({
        name,
        url,
        timeoutMs: config.subgraphTimeoutMs,
        fetcher: shareQueries ? shareQueries(links.fetcherFor(name)) : links.fetcherFor(name),
        assertion: () => assertionFor(name),
        onFailure: (error, requestId) => failures(name, error, requestId),
      });
      dataSources.set(name, source);
    }
    return source;
  };

  const gateway = new ApolloGateway({
    supergraphSdl: supergraphFromFile(config, logger),
    logger: logger.child({ component: 'apollo-gateway' }),
    buildService: ({ name, url }) => dataSourceFor(name, url as string),
  });
  const started: { server?: GraphQLServer } = {};
  const subscriptions = gatewaySubscriptions({
    config,
    gateway,
    execute: (request, context) => {
      if (!started.server) throw new Error('the gateway has not started');
      return started.server.execute(request, context);
    },
    limits,
    documents,
    dataSources: () => Object.fromEntries(dataSources),
    assertion: (subgraph) => assertionFor(subgraph),
    registry: metrics.registry,
    logger,
  });

  const server = await createGraphQLServer<GatewayContext & { logger: Logger }>({
    serveMetrics: !options.clusterWorker,
    name: 'gateway',
    config,
    logger,
    metrics,
    apollo: {
      gateway: shapingErrorsAsErrors(gateway),
      parseOptions: { maxTokens: config.limits.maxTokens },
      // Automatic persisted queries, where any document may run; with a required list, only listed ones do.
      persistedQueries: config.persisted.mode === 'require' ? false : { cache: apqCache(config.apqCacheBytes) },
      plugins: [operationLimitsPlugin(limits), positionsPlugin(), listedOperationPlugin((name) => metrics.listsOperation(name))],
    },
    context: async ({ req }, base) => ({
      ...base,
      authorization: req.headers.authorization,
      clientAddress: req.ip,
      userAgent: req.headers['user-agent'],
      positions: requestPositions(req.headers),
    }),
    // Apollo Server has started, so the gateway has loaded a supergraph and keeps one from now on; ready
    // while the subgraphs take its assertion.
    checkReady: assertionReadiness(() => [...dataSources].map(([name, source]) => ({ name, url: source.url })), assertionFor),
    before: [
      // A browser's client reads the positions its writes reached, to send them back (read-your-writes).
      cors({ origin: config.corsOrigins === '*' ? true : config.corsOrigins, maxAge: 600, exposedHeaders: [WAL_POSITIONS_HEADER] }),
      subscriptions.httpHandler,
      persistedDocumentsMiddleware(documents, config.bodyLimitBytes),
    ],
    attach: (httpServer) => subscriptions.attach(httpServer),
    ...(config.production ? {} : { routes: explorerRoutes }),
    onStop: async () => {
      documents.close();
      await links.close();
    },
  });
  started.server = server;
  // The primary asks each worker for its registry's figures and adds them up (./cluster-metrics).
  if (options.clusterWorker) answerMetricRequests(metrics.registry);
  return server;
}
