/**
 * The stack's processes: the one place that names them, their default ports and entry points. The
 * launcher, the configurations, the compose file, supergraph.yaml and the docs follow it (the last three
 * checked by tests).
 */
export const STACK = [
  { name: 'auth', port: 4001, entry: 'subgraphs/auth/dist/main.js', subgraph: true },
  { name: 'profile', port: 4002, entry: 'subgraphs/profile/dist/main.js', subgraph: true },
  { name: 'payments', port: 4003, entry: 'subgraphs/payments/dist/main.js', subgraph: true },
  { name: 'admin', port: 4004, entry: 'subgraphs/admin/dist/main.js', subgraph: true },
  { name: 'gateway', port: 4000, entry: 'gateway/dist/main.js', subgraph: false },
] as const;

export type StackProcessName = (typeof STACK)[number]['name'];

/** The four services; each owns the PostgreSQL schema of the same name and is a subgraph of the gateway. */
export const SERVICES = ['auth', 'profile', 'payments', 'admin'] as const satisfies readonly StackProcessName[];
export type Service = (typeof SERVICES)[number];

export function isService(value: string): value is Service {
  return (SERVICES as readonly string[]).includes(value);
}

/** The port each process listens on unless `<NAME>_PORT` says otherwise. */
export const DEFAULT_PORTS = Object.fromEntries(STACK.map(({ name, port }) => [name, port])) as Record<StackProcessName, number>;

/** Where a subgraph answers by default: the local port it listens on. */
export function defaultSubgraphUrl(service: Service): string {
  return `http://127.0.0.1:${DEFAULT_PORTS[service]}/graphql`;
}
