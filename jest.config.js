// One Jest run for the whole workspace: unit and integration tests beside the code in every package,
// end-to-end tests under test/. Every run gets a fresh database (test/global-setup.ts).
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/shared-db/src', '<rootDir>/service-kit/src', '<rootDir>/subgraphs', '<rootDir>/gateway', '<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  transform: {
    '^.+\\.(ts|js)$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  // jose ships only ES modules; Jest's module system needs them as CommonJS.
  transformIgnorePatterns: ['/node_modules/(?!jose/)'],
  // Tests run against the sources of the workspace packages, not their build output.
  moduleNameMapper: {
    '^@fedstack/(shared-db|service-kit)$': '<rootDir>/$1/src',
    '^@fedstack/(shared-db|service-kit)/testing$': '<rootDir>/$1/src/testing',
    '^@fedstack/(auth|profile|payments|admin)$': '<rootDir>/subgraphs/$1/src',
    '^@fedstack/gateway$': '<rootDir>/gateway/src',
    '^@fedstack/scripts$': '<rootDir>/scripts/src/processes',
  },
  globalSetup: '<rootDir>/test/global-setup.ts',
  globalTeardown: '<rootDir>/test/global-teardown.ts',
  testTimeout: 60_000,
};
