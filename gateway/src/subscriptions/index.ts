// Subscriptions at the gateway: what is served, from the planner to the transports.
import type http from 'node:http';
import type { ApolloGateway, ServiceMap } from '@apollo/gateway';
import type express from 'express';
import type { Registry } from 'prom-client';
import { compileTrustProxy, type Logger } from '@fedstack/runtime';
import type { GatewayConfig } from '../config';
import type { OperationLimitCheck } from '../limits';
import type { PersistedDocuments } from '../persisted';
import { SubscriptionAdmission } from './admission';
import { subscriptionExecutor } from './executor';
import { httpStreamingTransports } from './http-streams';
import { subscriptionMetrics } from './metrics';
import { SubscriptionPlanner } from './planner';
import { webSocketTransport, type TransportDeps } from './transports';
import { UpstreamSubscriptions } from './upstream';

/** Keep-alive pings on WebSocket connections, both ways. */
const KEEP_ALIVE_MS = 12_000;

/**
 * Subscriptions for a gateway: planned on the supergraph it serves (reloaded with it), executed through
 * its own data sources, offered over WebSocket, SSE and multipart HTTP at /graphql.
 */
export function gatewaySubscriptions(options: {
  config: GatewayConfig;
  gateway: ApolloGateway;
  /** Runs a query or mutation as the gateway's HTTP endpoint would. */
  execute: ConstructorParameters<typeof SubscriptionAdmission>[0]['execute'];
  limits: OperationLimitCheck;
  /** Which documents may run (PERSISTED_DOCUMENTS), as over HTTP. */
  documents: PersistedDocuments;
  /** The gateway's data source for each subgraph, as built for queries. */
  dataSources: () => ServiceMap;
  assertion: (subgraph: string) => Promise<string>;
  registry: Registry;
  logger: Logger;
}) {
  const { config, logger } = options;
  const planner = new SubscriptionPlanner();
  options.gateway.onSchemaLoadOrUpdate(({ coreSupergraphSdl }) => planner.load(coreSupergraphSdl));
  const metrics = subscriptionMetrics(options.registry);
  const upstream = new UpstreamSubscriptions({
    urlOf: (subgraph) => {
      const source = options.dataSources()[subgraph] as { url?: string } | undefined;
      if (!source?.url) throw new Error(`no subgraph named ${subgraph}`);
      return source.url;
    },
    assertion: options.assertion,
    answerTimeoutMs: config.subgraphTimeoutMs,
    logger: logger.child({ component: 'subscriptions-upstream' }),
  });
  const deps: TransportDeps = {
    admission: new SubscriptionAdmission({
      execute: options.execute,
      planner,
      limits: options.limits,
      documents: options.documents,
      maxTokens: config.limits.maxTokens,
      maxPerConnection: config.subscriptions.maxPerConnection,
      maxPerUser: config.subscriptions.maxPerUser,
      maxConnectionsPerUser: config.subscriptions.maxConnectionsPerUser,
      maxUpstreamBytes: config.bodyLimitBytes,
      hideSuggestions: config.production,
    }),
    subscribe: subscriptionExecutor({
      planner,
      upstream,
      dataSources: options.dataSources,
      metrics,
      production: config.production,
      maxQueuedEvents: config.subscriptions.maxQueuedEvents,
    }),
    metrics,
    logger: logger.child({ component: 'subscriptions' }),
    production: config.production,
    limits: {
      maxPayloadBytes: config.bodyLimitBytes,
      maxBufferedBytes: config.subscriptions.maxBufferedBytes,
      keepAliveMs: KEEP_ALIVE_MS,
      initTimeoutMs: config.subscriptions.initTimeoutMs,
    },
    clientAddress: (request) => (request as Partial<express.Request>).ip ?? request.socket.remoteAddress,
    trustProxy: compileTrustProxy(config.trustProxy),
  };
  const streaming = httpStreamingTransports(deps, config.bodyLimitBytes);
  return {
    /** SSE and multipart HTTP, before the ordinary endpoint at /graphql. */
    httpHandler: streaming,
    /** WebSocket upgrades on the gateway's own port; closing ends every subscription ("going away") and the upstream connections. */
    attach(httpServer: http.Server) {
      const webSocket = webSocketTransport(httpServer, deps);
      return {
        async close() {
          await Promise.all([webSocket.close(), streaming.close()]);
          await upstream.close();
        },
      };
    },
  };
}
