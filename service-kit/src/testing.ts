// Helpers for tests that drive real servers over HTTP.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Service } from '@fedstack/runtime';
import { INTERNAL_JWKS_PATH, createInternalClient, internalIdentity, type InternalClient, type InternalIdentity } from './internal-api';
import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { TOKEN_ALGORITHM } from '@fedstack/runtime';

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
  env: { JWT_PUBLIC_KEY: string; JWT_PRIVATE_KEY: string };
  mint(subject: { userId: string; role?: 'USER' | 'ADMIN' }): Promise<string>;
}> {
  const key = await testSigningKey();
  const privateKey = await importJWK(JSON.parse(key.privateKey) as JWK, TOKEN_ALGORITHM);
  return {
    env: { JWT_PUBLIC_KEY: JSON.stringify(key.publicJwk), JWT_PRIVATE_KEY: key.privateKey },
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

/**
 * Another service as far as the internal API can tell: its own key, and its public key served where
 * services look for it (on `port`, if given: where the real one would be). Point the service under test
 * at `url` (`<SERVICE>_SUBGRAPH_URL`) and call it with `client`, as that service would, or sign calls of
 * your own with `identity`.
 */
export async function fakePeer(
  self: Service,
  peers: Partial<Record<Service, string>> = {},
  port = 0,
): Promise<{ url: string; identity: InternalIdentity; client: InternalClient; close(): Promise<void> }> {
  const identity = await internalIdentity(self, undefined);
  const server = createServer((req, res) => {
    if (req.url !== INTERNAL_JWKS_PATH) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [identity.publicJwk] }));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = createInternalClient({ identity, peers: { auth: '', profile: '', payments: '', admin: '', ...peers }, timeoutMs: 5000 });
  return {
    url,
    identity,
    client,
    async close() {
      await client.close();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export { ownerSql, ownerQuery } from '@fedstack/shared-db/testing';

/**
 * Where a subgraph under test finds its peers: nowhere (port 9, refused). Otherwise it would use the
 * default ports, where a stack another test started (`npm start`, say) may be listening, and deliver its
 * events there.
 */
export const ISOLATED_PEERS = {
  AUTH_SUBGRAPH_URL: 'http://127.0.0.1:9/graphql',
  PROFILE_SUBGRAPH_URL: 'http://127.0.0.1:9/graphql',
  PAYMENTS_SUBGRAPH_URL: 'http://127.0.0.1:9/graphql',
  ADMIN_SUBGRAPH_URL: 'http://127.0.0.1:9/graphql',
};
