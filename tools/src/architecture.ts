/**
 * Which workspace may depend on which: the picture in docs/architecture.md, enforced by
 * architecture.test.ts against every package.json, tsconfig.json and import. Lower layers never know the
 * higher ones; no service knows another (they talk over HTTP); the gateway has no database.
 */
export const ALLOWED_DEPENDENCIES: Record<string, readonly string[]> = {
  runtime: [],
  'shared-db': ['runtime'],
  'service-kit': ['runtime', 'shared-db'],
  'subgraphs/auth': ['runtime', 'shared-db', 'service-kit'],
  'subgraphs/profile': ['runtime', 'shared-db', 'service-kit'],
  'subgraphs/payments': ['runtime', 'shared-db', 'service-kit'],
  'subgraphs/admin': ['runtime', 'shared-db', 'service-kit'],
  gateway: ['runtime'],
  scripts: ['runtime', 'shared-db'],
  bench: ['runtime', 'shared-db', 'service-kit', 'subgraphs/payments', 'gateway', 'scripts'],
  'clients/web': ['runtime'],
  tools: [
    'runtime',
    'shared-db',
    'service-kit',
    'subgraphs/auth',
    'subgraphs/profile',
    'subgraphs/payments',
    'subgraphs/admin',
    'gateway',
    'scripts',
    'bench',
    'clients/web',
  ],
};
