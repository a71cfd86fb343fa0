import { createAdminServer, loadAdminConfig } from '@fedstack/admin';
import { createAuthServer, loadAuthConfig } from '@fedstack/auth';
import { createGatewayServer, loadGatewayConfig } from '@fedstack/gateway';
import type { GraphQLServer } from '@fedstack/runtime';
import { createPaymentsServer, loadPaymentsConfig } from '@fedstack/payments';
import { createProfileServer } from '@fedstack/profile';
import { freePort } from '@fedstack/runtime';
import { loadServiceConfig } from '@fedstack/service-kit';
import { LogCapture, testTokens } from '@fedstack/service-kit/testing';

export type SubgraphName = 'auth' | 'profile' | 'payments' | 'admin';
const SUBGRAPHS: readonly SubgraphName[] = ['auth', 'profile', 'payments', 'admin'];

interface Startable {
  listen(): Promise<string>;
  stop(): Promise<void>;
}

export interface RunningStack {
  gatewayUrl: string;
  gateway: GraphQLServer;
  gatewayLogs: LogCapture;
  subgraphUrls: Record<SubgraphName, string>;
  /** Stops one subgraph, as an outage would. */
  stopSubgraph(name: SubgraphName): Promise<void>;
  /**
   * Starts it again on the port it had; with `env`, with those settings from now on (a database moved
   * elsewhere, say).
   */
  startSubgraph(name: SubgraphName, env?: NodeJS.ProcessEnv): Promise<void>;
  /** Another gateway over the same subgraphs, with other settings (production mode, a timeout...). */
  extraGateway(env: NodeJS.ProcessEnv): Promise<{ url: string; server: GraphQLServer; logs: LogCapture }>;
  stop(): Promise<void>;
}

/**
 * The whole stack in this process, every server on a port of its own over real HTTP: the four
 * subgraphs and the gateway, with a fresh signing key, on the test run's databases unless `databases`
 * places them elsewhere.
 */
export async function startStack(
  gatewayEnv: NodeJS.ProcessEnv = {},
  databases: NodeJS.ProcessEnv = {},
  subgraphEnv: (name: SubgraphName) => NodeJS.ProcessEnv = () => ({}),
): Promise<RunningStack> {
  const tokens = await testTokens();
  // Ports are chosen first: each subgraph must know where the others answer (their internal API).
  const ports = Object.fromEntries(await Promise.all(SUBGRAPHS.map(async (name) => [name, String(await freePort())] as const))) as Record<SubgraphName, string>;
  const subgraphUrls = Object.fromEntries(SUBGRAPHS.map((name) => [name, `http://127.0.0.1:${ports[name]}/graphql`])) as Record<SubgraphName, string>;
  const routing = Object.fromEntries(SUBGRAPHS.map((name) => [`${name.toUpperCase()}_SUBGRAPH_URL`, subgraphUrls[name]]));
  const env = { ...process.env, ...databases, ...tokens.env, ...routing, LOG_LEVEL: 'silent' };
  const overrides: Partial<Record<SubgraphName, NodeJS.ProcessEnv>> = {};
  const start = async (name: SubgraphName): Promise<Startable> => {
    // The gateway reports the client's address from this machine.
    const portEnv = { ...env, TRUST_PROXY: 'loopback', ...subgraphEnv(name), ...overrides[name], [`${name.toUpperCase()}_PORT`]: ports[name] };
    switch (name) {
      case 'auth':
        return createAuthServer({ config: loadAuthConfig(portEnv) });
      case 'profile':
        return createProfileServer({ config: loadServiceConfig('profile', portEnv) });
      case 'payments':
        return createPaymentsServer({ config: loadPaymentsConfig(portEnv) });
      case 'admin':
        return createAdminServer({ config: loadAdminConfig(portEnv) });
    }
  };
  const servers = new Map<SubgraphName, Startable>();
  for (const name of SUBGRAPHS) {
    const server = await start(name);
    await server.listen();
    servers.set(name, server);
  }
  const gateways: GraphQLServer[] = [];
  const startGateway = async (extra: NodeJS.ProcessEnv) => {
    const logs = new LogCapture();
    const server = await createGatewayServer({
      config: loadGatewayConfig({ ...env, ...routing, GATEWAY_PORT: '0', LOG_LEVEL: 'info', ...extra }),
      logDestination: logs,
    });
    gateways.push(server);
    return { url: `${await server.listen()}/graphql`, server, logs };
  };
  const main = await startGateway(gatewayEnv);
  return {
    gatewayUrl: main.url,
    gateway: main.server,
    gatewayLogs: main.logs,
    subgraphUrls,
    async stopSubgraph(name) {
      await servers.get(name)?.stop();
      servers.delete(name);
    },
    async startSubgraph(name, settings) {
      if (settings) overrides[name] = { ...overrides[name], ...settings };
      const server = await start(name);
      await server.listen();
      servers.set(name, server);
    },
    extraGateway: startGateway,
    async stop() {
      await Promise.all(gateways.map((gateway) => gateway.stop()));
      await Promise.all([...servers.values()].map((server) => server.stop()));
    },
  };
}
