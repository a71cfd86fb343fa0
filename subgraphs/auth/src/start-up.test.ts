import type * as SharedDb from '@fedstack/shared-db';
import { ISOLATED_PEERS, graphql, testSigningKey } from '@fedstack/service-kit/testing';
import { loadAuthConfig } from './config';
import { createAuthServer } from './server';

// Records the password hashes and verifications auth asks for, on the test's global: the mock may run
// while the imports above load, before any variable of this file is set.
type PasswordWork = { passwordWork?: string[] };
jest.mock('@fedstack/shared-db', () => {
  const actual = jest.requireActual<typeof SharedDb>('@fedstack/shared-db');
  const work = ((globalThis as PasswordWork).passwordWork ??= []);
  return {
    ...actual,
    hashPassword: (password: string) => (work.push('hash'), actual.hashPassword(password)),
    verifyPassword: (storedHash: string, password: string) => (work.push('verify'), actual.verifyPassword(storedHash, password)),
  };
});

describe('auth at start', () => {
  it('hashes nothing (a hash holds 19 MiB while it runs), and still verifies an unknown e-mail against a hash', async () => {
    const { privateKey } = await testSigningKey();
    const config = loadAuthConfig({ ...process.env, ...ISOLATED_PEERS, AUTH_PORT: '0', LOG_LEVEL: 'silent', JWT_PRIVATE_KEY: privateKey });
    const server = await createAuthServer({ config });
    try {
      const url = `${await server.listen()}/graphql`;
      expect((globalThis as PasswordWork).passwordWork ?? []).toEqual([]);
      const login = await graphql(url, 'mutation { login(input: { email: "nobody-at-start@example.com", password: "any password at all" }) { accessToken } }');
      expect(login.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect((globalThis as PasswordWork).passwordWork).toEqual(['verify']);
    } finally {
      await server.stop();
    }
  });
});
