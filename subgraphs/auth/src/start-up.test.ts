import { ISOLATED_PEERS, graphql, testSigningKey } from '@fedstack/service-kit/testing';
import { loadAuthConfig } from './config';
import { createAuthServer } from './server';

// Counts the loads of argon2's module, which is loaded by the first hash or verification (shared-db's
// passwords.ts): on the test's global, as the mock may run while the imports above load.
type Argon2Loads = { argon2Loads?: number };
jest.mock('@node-rs/argon2', () => {
  (globalThis as Argon2Loads).argon2Loads = ((globalThis as Argon2Loads).argon2Loads ?? 0) + 1;
  return jest.requireActual<object>('@node-rs/argon2');
});

describe('auth at start', () => {
  it('hashes nothing (a hash holds 19 MiB while it runs), and still verifies an unknown e-mail against a hash', async () => {
    const { privateKey } = await testSigningKey();
    const config = loadAuthConfig({ ...process.env, ...ISOLATED_PEERS, AUTH_PORT: '0', LOG_LEVEL: 'silent', JWT_PRIVATE_KEY: privateKey });
    const server = await createAuthServer({ config });
    try {
      const url = `${await server.listen()}/graphql`;
      expect((globalThis as Argon2Loads).argon2Loads ?? 0).toBe(0);
      const login = await graphql(url, 'mutation { login(input: { email: "nobody-at-start@example.com", password: "any password at all" }) { accessToken } }');
      expect(login.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect((globalThis as Argon2Loads).argon2Loads).toBe(1);
    } finally {
      await server.stop();
    }
  });
});
