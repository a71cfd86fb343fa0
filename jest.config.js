// One Jest project per workspace package (`npx jest --selectProjects gateway` runs one), with unit and
// integration tests beside the code; end-to-end tests under test/. Every run gets a fresh database
// (test/global-setup.ts).
const shared = {
  testEnvironment: 'node',
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
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
    '^@fedstack/scripts$': '<rootDir>/scripts/src/processes',
  },
};

const packages = {
  runtime: 'runtime/src',
  'shared-db': 'shared-db/src',
  'service-kit': 'service-kit/src',
  auth: 'subgraphs/auth/src',
  profile: 'subgraphs/profile/src',
  payments: 'subgraphs/payments/src',
  admin: 'subgraphs/admin/src',
  gateway: 'gateway/src',
  scripts: 'scripts/src',
  e2e: 'test',
};

/** @type {import('jest').Config} */
module.exports = {
  projects: Object.entries(packages).map(([displayName, root]) => ({ ...shared, displayName, roots: [`<rootDir>/${root}`] })),
  globalSetup: '<rootDir>/test/global-setup.ts',
  globalTeardown: '<rootDir>/test/global-teardown.ts',
  testTimeout: 60_000,
};
