import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { AppError, ErrorCode, TOKEN_ALGORITHM } from '@fedstack/runtime';
import { remoteKeySet } from './keys';
import { createTokenVerifier } from './tokens';

/** auth's key set as a subgraph reads it, from a server that can be stopped and given other keys. */
class KeySetServer {
  keys: JWK[] = [];
  private readonly server = http.createServer((_req, res) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: this.keys })),
  );
  url = '';

  async start(port = 0): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/.well-known/jwks.json`;
  }

  async stop(): Promise<void> {
    if (!this.server.listening) return;
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

async function signingKey(kid: string) {
  const { privateKey, publicKey } = await generateKeyPair(TOKEN_ALGORITHM);
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: TOKEN_ALGORITHM } };
}

const mint = (key: CryptoKey, kid: string) =>
  new SignJWT({ role: 'USER', sid: randomUUID() })
    .setProtectedHeader({ alg: TOKEN_ALGORITHM, kid })
    .setIssuer('fedstack-auth')
    .setAudience('fedstack')
    .setSubject(randomUUID())
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(key);

/** A verifier on auth's keys at `url`, and the failed reads it told of (whether keys were held then). */
const verifierOf = (url: string, heldForMs = 60_000) => {
  const failedReads: boolean[] = [];
  const key = remoteKeySet(new URL(url), { maxAgeMs: 50, heldForMs, retryAfterMs: 100, onReadFailed: (_error, held) => failedReads.push(held) });
  return Object.assign(createTokenVerifier({ key, issuer: 'fedstack-auth', audience: 'fedstack' }), { failedReads });
};
const codeOf = (promise: Promise<unknown>) =>
  promise.then(
    () => 'verified',
    (error: unknown) => (error instanceof AppError ? error.extensions.code : String(error)),
  );

describe("auth's key set, read from JWT_JWKS_URL", () => {
  let auth: KeySetServer;
  let first: Awaited<ReturnType<typeof signingKey>>;
  beforeEach(async () => {
    first = await signingKey('first');
    auth = new KeySetServer();
    auth.keys = [first.jwk];
    await auth.start();
  });
  afterEach(() => auth.stop());

  it('goes on verifying tokens with the keys read last while auth cannot be reached (they were refused as not valid)', async () => {
    const verify = verifierOf(auth.url);
    expect(await codeOf(verify(await mint(first.privateKey, 'first')))).toBe('verified');
    await auth.stop();
    // Past the key set's age: each token below would have it read again.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await codeOf(verify(await mint(first.privateKey, 'first')))).toBe('verified');
    expect(await codeOf(verify(await mint(first.privateKey, 'first')))).toBe('verified');
    // A forgery still fails; a key auth added since cannot be checked: auth is unavailable, the token no worse.
    const other = await signingKey('first');
    expect(await codeOf(verify(await mint(other.privateKey, 'first')))).toBe(ErrorCode.UNAUTHENTICATED);
    expect(await codeOf(verify(await mint(other.privateKey, 'newer')))).toBe(ErrorCode.SUBGRAPH_UNAVAILABLE);
    // Each failed read told of (for the log), the keys held meanwhile.
    expect(verify.failedReads.length).toBeGreaterThan(0);
    expect(new Set(verify.failedReads)).toEqual(new Set([true]));
  });

  it('trusts the keys held for a bounded time only, and drops a key auth has removed once auth answers', async () => {
    const verify = verifierOf(auth.url, 300);
    expect(await codeOf(verify(await mint(first.privateKey, 'first')))).toBe('verified');
    const { port } = new URL(auth.url);
    await auth.stop();
    await new Promise((resolve) => setTimeout(resolve, 350));
    // Past the bound while auth is away: a token cannot be checked any more.
    expect(await codeOf(verify(await mint(first.privateKey, 'first')))).toBe(ErrorCode.SUBGRAPH_UNAVAILABLE);
    // Back, with the leaked key removed: tokens signed with it are refused.
    const second = await signingKey('second');
    auth = new KeySetServer();
    auth.keys = [second.jwk];
    await auth.start(Number(port));
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(await codeOf(verify(await mint(second.privateKey, 'second')))).toBe('verified');
    expect(await codeOf(verify(await mint(first.privateKey, 'first')))).toBe(ErrorCode.UNAUTHENTICATED);
  });

  it("fails as auth unavailable, not as the token's fault, with no keys read yet; and verifies once auth is back, with a key it has since added", async () => {
    const { port } = new URL(auth.url);
    await auth.stop();
    const verify = verifierOf(auth.url);
    expect(await codeOf(verify(await mint(first.privateKey, 'first')))).toBe(ErrorCode.SUBGRAPH_UNAVAILABLE);
    // Not asked again at once for every request that follows.
    expect(await codeOf(verify(await mint(first.privateKey, 'first')))).toBe(ErrorCode.SUBGRAPH_UNAVAILABLE);
    expect(verify.failedReads).toEqual([false]);
    await new Promise((resolve) => setTimeout(resolve, 150));
    const second = await signingKey('second');
    auth = new KeySetServer();
    auth.keys = [first.jwk, second.jwk];
    await auth.start(Number(port));
    expect(await codeOf(verify(await mint(second.privateKey, 'second')))).toBe('verified');
  });
});
