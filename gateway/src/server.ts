import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import http from 'node:http';
import { ApolloGateway, type SupergraphSdlHook } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { expressMiddleware } from '@as-integrations/express5';
import cors from 'cors';
import express from 'express';
import type { DestinationStream } from 'pino';
import { Histogram } from 'prom-client';
import {
  ServiceMetrics,
  createLogger,
  formatErrorFor,
  httpErrorHandler,
  listen,
  landingPage,
  observabilityPlugin,
  operationalRoutes,
  type Logger,
} from '@fedstack/service-kit';
import type { GatewayConfig } from './config';
import { operationLimitsPlugin } from './limits';
import { SubgraphDataSource, subgraphAgent, type GatewayContext } from './subgraphs';

export interface GatewayServerOptions {
  config: GatewayConfig;
  logDestination?: DestinationStream;
}

export interface GatewayServer {
  readonly app: express.Express;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
  listen(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Serves supergraph.graphql, reloading it when the file changes. A supergraph the gateway cannot load
 * is refused and logged; the previous one keeps serving.
 */
function supergraphFromFile(config: GatewayConfig, logger: Logger): SupergraphSdlHook {
  return async ({ update }) => {
    let current = readFileSync(config.supergraphFile, 'utf8');
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

/** Builds the gateway's HTTP server (not yet listening): Apollo Gateway on Express with limits, health and metrics. */
export async function createGatewayServer(options: GatewayServerOptions): Promise<GatewayServer> {
  const { config } = options;
  const logger = createLogger('gateway', config.logLevel, options.logDestination);
  const metrics = new ServiceMetrics({ service: 'gateway' });
  const fetchDuration = new Histogram({
    name: 'subgraph_fetch_duration_seconds',
    help: 'Time each subgraph took to answer the gateway, by subgraph and outcome (ok, error, timeout)',
    labelNames: ['subgraph', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [metrics.registry],
  });
  const agents = new Map<string, ReturnType<typeof subgraphAgent>>();

  const gateway = new ApolloGateway({
    supergraphSdl: supergraphFromFile(config, logger),
    logger: logger.child({ component: 'apollo-gateway' }),
    buildService: ({ name, url }) => {
      const agent = agents.get(name) ?? subgraphAgent(config.subgraphConnections);
      agents.set(name, agent);
      return new SubgraphDataSource({
        name,
        url: config.subgraphUrls[name] ?? (url as string),
        timeoutMs: config.subgraphTimeoutMs,
        agent,
        fetchDuration,
      });
    },
  });

  const app = express();
  const httpServer = http.createServer(app);
  const apollo = new ApolloServer<GatewayContext & { logger: Logger }>({
    gateway,
    introspection: config.introspection,
    includeStacktraceInErrorResponses: !config.production,
    formatError: formatErrorFor(config.production),
    allowBatchedHttpRequests: false,
    parseOptions: { maxTokens: config.limits.maxTokens },
    logger: logger.child({ component: 'apollo' }),
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: config.shutdownGraceMs }),
      observabilityPlugin(metrics),
      operationLimitsPlugin(config.limits),
      landingPage(config.production),
    ],
  });
  await apollo.start();

  operationalRoutes(app, {
    trustProxy: config.trustProxy,
    metrics,
    logger,
    // apollo.start() has returned, so the gateway has loaded a supergraph and keeps one from now on.
    checkReady: async () => undefined,
  });
  app.use(
    '/graphql',
    cors({ origin: config.corsOrigins === '*' ? true : config.corsOrigins, maxAge: 600 }),
    express.json({ limit: config.bodyLimitBytes }),
    expressMiddleware(apollo, {
      context: async ({ req, res }) => {
        const requestId = String(res.locals.requestId);
        return { requestId, logger: logger.child({ requestId }), authorization: req.headers.authorization, clientAddress: req.ip };
      },
    }),
  );
  app.use(httpErrorHandler(logger));

  let stopped = false;
  return {
    app,
    logger,
    metrics,
    async listen() {
      const { url } = await listen(httpServer, config.port, config.host, 'gateway');
      logger.info({ url: `${url}/graphql` }, 'gateway listening');
      return url;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await apollo.stop();
      await Promise.all([...agents.values()].map((agent) => agent.close()));
      logger.info('stopped');
    },
  };
}
