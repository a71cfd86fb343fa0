// One Jest project per workspace package (`npx jest --selectProjects gateway` runs one), with unit and
// integration tests beside the code; end-to-end tests under test/.
//
// Test files run in parallel, each Jest worker on a database of its own. Every run gets fresh databases
// (test/global-setup.ts: migrated and seeded once, one or one per service in the split layout), which
// serve as templates; each worker gets a copy of them (CREATE DATABASE … TEMPLATE, a fraction of a second
// where migrating again would take many), and test/worker-env.ts points every file at its worker's copy.
// A database per worker rather than assertions scoped to what each test made: a file runs alone on its
// worker's database, so what it asserts about totals, counts, the newest entry or seeded data holds
// whatever runs beside it, and a test can still check an exact figure. (Tests that can scope their checks
// to their own rows do so as well.) What else files share, they must not collide on: ports (port 0 or
// freePort()), files (a temporary folder of their own), databases they make (a random name).
const shared = {
  testEnvironment: 'node',
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  setupFiles: ['<rootDir>/test/worker-env.ts'],
  transform: {
    '^.+\\.(ts|js)$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  // jose ships only ES modules; Jest's module system needs them as CommonJS.
  transformIgnorePatterns: ['/node_modules/(?!jose/)'],
  // Tests run against the sources of the workspace packages, not their build output.
  moduleNameMapper: {
    '^@fedstack/(runtime|shared-db|service-kit)$': '<rootDir>/$1/src',
    '^@fedstack/(shared-db|service-kit)/testing$': '<rootDir>/$1/src/testing',
    '^@fedstack/(auth|profile|payments|admin)$': '<rootDir>/subgraphs/$1/src',
    '^@fedstack/gateway$': '<rootDir>/gateway/src',
    '^@fedstack/scripts$': '<rootDir>/scripts/src',
    '^@fedstack/bench$': '<rootDir>/bench/src/settings',
    '^@fedstack/example-client$': '<rootDir>/clients/web/src',
    '^@fedstack/example-client/codegen$': '<rootDir>/clients/web/src/codegen',
  },
};

// Each package's tests, and whether they need the run's database (prepared once, however many of these
// projects run, by the first one's global setup).
const packages = {
  runtime: { root: 'runtime/src', database: false },
  'shared-db': { root: 'shared-db/src', database: true },
  'service-kit': { root: 'service-kit/src', database: true },
  auth: { root: 'subgraphs/auth/src', database: true },
  profile: { root: 'subgraphs/profile/src', database: true },
  payments: { root: 'subgraphs/payments/src', database: true },
  admin: { root: 'subgraphs/admin/src', database: true },
  gateway: { root: 'gateway/src', database: false },
  scripts: { root: 'scripts/src', database: false },
  bench: { root: 'bench/src', database: false },
  tools: { root: 'tools/src', database: false },
  web: { root: 'clients/web/src', database: false },
  e2e: { root: 'test', database: true },
};

/** @type {import('jest').Config} */
module.exports = {
  projects: Object.entries(packages).map(([displayName, { root, database }]) => ({
    ...shared,
    displayName,
    roots: [`<rootDir>/${root}`],
    ...(database ? { globalSetup: '<rootDir>/test/global-setup.ts', globalTeardown: '<rootDir>/test/global-teardown.ts' } : {}),
  })),
  // The suite waits on servers, child processes and PostgreSQL as well as computing: on 2 cores, 3
  // workers finished it soonest (measured with 1 to 4; CONTRIBUTING.md), and 4 starved tests of CPU.
  maxWorkers: 3,
  testTimeout: 60_000,
  passWithNoTests: true,
};
