/**
 * The V8 options each subgraph runs with, wherever it runs (npm start, the benchmark, the images). A
 * 4 MB young-generation semispace: left to itself, V8 grows it to 16 MB and more under load, and that
 * was most of a subgraph's peak memory (auth 305 MB under the benchmark's mix, 190 MB with this). And a
 * 128 MB old generation, about three times a subgraph's live heap: without it V8 let the heap grow over
 * minutes of load (auth 197–315 MB, 144–147 with it, for about 4 % of throughput). See docs/performance.md.
 */
export const SUBGRAPH_NODE_OPTIONS = ['--max-old-space-size=128', '--max-semi-space-size=4'] as const;

/**
 * The gateway's: none. A lone gateway given its workers' heap options (384 MB old generation, 16 MB
 * semispaces) peaks at 226–253 MB instead of 423–520, but alone in front of stub subgraphs it then uses
 * 23–39 % more CPU per request and serves 14–23 % fewer requests, and each option costs on its own
 * (docs/performance.md, "Where the peaks are"): a lone gateway is sized by V8, and an operator short of
 * memory passes those options in NODE_OPTIONS. Its workers are sized by gateway/src/main.ts.
 */
export const GATEWAY_NODE_OPTIONS = [] as const;

/**
 * The stack's processes: the one place in the code that names them, their default ports and entry
 * points. The launcher, the configurations and the settings table follow it; the compose files,
 * supergraph.yaml, the docs, the Prisma CLI's launcher and the test projects are checked against it
 * (tools/src/stack.test.ts).
 */
export const STACK = [
  { name: 'auth', port: 4001, entry: 'subgraphs/auth/dist/main.js', subgraph: true, nodeOptions: SUBGRAPH_NODE_OPTIONS },
  { name: 'profile', port: 4002, entry: 'subgraphs/profile/dist/main.js', subgraph: true, nodeOptions: SUBGRAPH_NODE_OPTIONS },
  { name: 'payments', port: 4003, entry: 'subgraphs/payments/dist/main.js', subgraph: true, nodeOptions: SUBGRAPH_NODE_OPTIONS },
  { name: 'admin', port: 4004, entry: 'subgraphs/admin/dist/main.js', subgraph: true, nodeOptions: SUBGRAPH_NODE_OPTIONS },
  { name: 'gateway', port: 4000, entry: 'gateway/dist/main.js', subgraph: false, nodeOptions: GATEWAY_NODE_OPTIONS },
] as const;

export type StackProcessName = (typeof STACK)[number]['name'];

/** A service: it owns the PostgreSQL schema of the same name and is a subgraph of the gateway. */
export type Service = Extract<(typeof STACK)[number], { subgraph: true }>['name'];

/** The four services, in start order. */
export const SERVICES: readonly Service[] = STACK.flatMap((entry) => (entry.subgraph ? [entry.name] : []));

export function isService(value: string): value is Service {
  return (SERVICES as readonly string[]).includes(value);
}

/** The port each process listens on unless `<NAME>_PORT` says otherwise. */
export const DEFAULT_PORTS = Object.fromEntries(STACK.map(({ name, port }) => [name, port])) as Record<StackProcessName, number>;

/** Where a subgraph answers by default: the local port it listens on. */
export function defaultSubgraphUrl(service: Service): string {
  return `http://127.0.0.1:${DEFAULT_PORTS[service]}/graphql`;
}
