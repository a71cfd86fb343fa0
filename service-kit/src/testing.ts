import { randomBytes, randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { TOKEN_ALGORITHM } from './keys';

/** Helpers for tests that drive real servers over HTTP. */

export interface GraphQLResponse<D = Record<string, unknown>> {
  status: number;
  headers: Headers;
  data: D | null | undefined;
  errors: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[] | undefined;
}

/** POSTs one GraphQL operation to `url` (the /graphql endpoint) and returns the parsed answer. */
export async function graphql<D = Record<string, unknown>>(
  url: string,
  query: string,
  options: { variables?: Record<string, unknown>; token?: string; headers?: Record<string, string> } = {},
): Promise<GraphQLResponse<D>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...options.headers,
    },
    body: JSON.stringify({ query, variables: options.variables ?? {} }),
  });
  const body = (await response.json()) as { data?: D | null; errors?: GraphQLResponse['errors'] };
  return { status: response.status, headers: response.headers, data: body.data, errors: body.errors };
}

/** A fresh Ed25519 key pair for a test run, the private half as JWT_PRIVATE_KEY expects it. */
export async function testSigningKey(): Promise<{ privateKey: string; publicJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair(TOKEN_ALGORITHM, { extractable: true });
  const kid = `test-${Date.now().toString(36)}`;
  return {
    privateKey: JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg: TOKEN_ALGORITHM }),
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: TOKEN_ALGORITHM },
  };
}

/** Collects JSON log lines written by a server under test. */
export class LogCapture {
  readonly lines: Record<string, unknown>[] = [];

  write(chunk: string): void {
    for (const line of chunk.split('\n')) if (line.trim()) this.lines.push(JSON.parse(line) as Record<string, unknown>);
  }
}

/**
 * Signs access tokens the way auth does, for tests of other subgraphs: `env` carries the public key
 * for the servers under test.
 */
export async function testTokens(): Promise<{
  env: { JWT_PUBLIC_KEY: string; JWT_PRIVATE_KEY: string; INTERNAL_API_SECRET: string };
  mint(subject: { userId: string; role?: 'USER' | 'ADMIN' }): Promise<string>;
}> {
  const key = await testSigningKey();
  const privateKey = await importJWK(JSON.parse(key.privateKey) as JWK, TOKEN_ALGORITHM);
  return {
    env: { JWT_PUBLIC_KEY: JSON.stringify(key.publicJwk), JWT_PRIVATE_KEY: key.privateKey, INTERNAL_API_SECRET: randomBytes(32).toString('base64url') },
    mint: ({ userId, role = 'USER' }) =>
      new SignJWT({ role, sid: randomUUID() })
        .setProtectedHeader({ alg: TOKEN_ALGORITHM })
        .setIssuer('fedstack-auth')
        .setAudience('fedstack')
        .setSubject(userId)
        .setJti(randomUUID())
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(privateKey),
  };
}

export { ownerSql, ownerQuery } from '@fedstack/shared-db/testing';
