import type * as Argon2 from '@node-rs/argon2';
import { ISOLATED_PEERS, graphql, testSigningKey } from '@fedstack/service-kit/testing';
import { loadAuthConfig } from './config';
import { createAuthServer } from './server';

// Records argon2's hashes and verifications, on the test's global: the mock may run while the imports
// above load, before any variable of this file is set.
type Argon2Calls = { argon2Calls?: string[] };
jest.mock('@node-rs/argon2', () => {
  const actual = jest.requireActual<typeof Argon2>('@node-rs/argon2');
  const calls = ((globalThis as Argon2Calls).argon2Calls ??= []);
  return {
    ...actual,
    hash: (...args: Parameters<typeof Argon2.hash>) => (calls.push('hash'), actual.hash(...args)),
    verify: (...args: Parameters<typeof Argon2.verify>) => (calls.push('verify'), actual.verify(...args)),
  };
});

describe('auth at start', () => {
  it('hashes nothing (a hash holds 19 MiB while it runs), and still verifies an unknown e-mail against a hash', async () => {
    const { privateKey } = await testSigningKey();
    const config = loadAuthConfig({ ...process.env, ...ISOLATED_PEERS, AUTH_PORT: '0', LOG_LEVEL: 'silent', JWT_PRIVATE_KEY: privateKey });
    const server = await createAuthServer({ config });
    try {
      const url = `${await server.listen()}/graphql`;
      expect((globalThis as Argon2Calls).argon2Calls ?? []).toEqual([]);
      const login = await graphql(url, 'mutation { login(input: { email: "nobody-at-start@example.com", password: "any password at all" }) { accessToken } }');
      expect(login.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect((globalThis as Argon2Calls).argon2Calls).toEqual(['verify']);
    } finally {
      await server.stop();
    }
  });
});
