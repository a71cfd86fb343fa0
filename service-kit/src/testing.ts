// Helpers for tests that drive real servers over HTTP.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Service } from '@fedstack/runtime';
import { INTERNAL_JWKS_PATH, createInternalClient, internalIdentity, type InternalClient, type InternalIdentity } from './internal-api';
import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import type { FormattedExecutionResult } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { GATEWAY_ASSERTION_HEADER, TOKEN_ALGORITHM, WAL_POSITIONS_HEADER, WalPositions } from '@fedstack/runtime';

export interface GraphQLResponse<D = Record<string, unknown>> {
  status: number;
  headers: Headers;
  data: D | null | undefined;
  errors: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[] | undefined;
}

/**
 * The WAL positions the answers in this test process gave, sent back with every later request, as a
 * client that reads its own writes does (docs/adr/0012-read-replicas.md): with replicas (`DB_REPLICAS=1
 * npm test`), a test's read after its write sees it. Without replicas no answer gives one, and nothing is sent.
 */
const carried = new WalPositions();

/** The header of a client that sends no positions (its reads may be stale), to give `graphql` as a header. */
export const NO_POSITIONS = { [WAL_POSITIONS_HEADER]: '' };

/**
 * POSTs one GraphQL operation to `url` (the /graphql endpoint) and returns the parsed answer; fails
 * naming the URL if none comes within `timeoutMs` (30 s), before a test's own time runs out on it.
 */
export async function graphql<D = Record<string, unknown>>(
  url: string,
  query: string,
  options: { variables?: Record<string, unknown>; token?: string; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<GraphQLResponse<D>> {
  const positions = carried.toHeader();
  const { timeoutMs = 30_000 } = options;
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const response = await fetch(url, {
      method: 'POST',
      signal,
      headers: {
        'content-type': 'application/json',
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        ...(positions ? { [WAL_POSITIONS_HEADER]: positions } : {}),
        ...options.headers,
      },
      body: JSON.stringify({ query, variables: options.variables ?? {} }),
    });
    carried.merge(response.headers.get(WAL_POSITIONS_HEADER) ?? undefined);
    const body = (await response.json()) as { data?: D | null; errors?: GraphQLResponse['errors'] };
    return { status: response.status, headers: response.headers, data: body.data, errors: body.errors };
  } catch (error) {
    throw signal.aborted ? new Error(`no answer from ${url} within ${timeoutMs} ms`, { cause: error }) : error;
  }
}

/** A fresh Ed25519 key pair for a test run, the private half as JWT_PRIVATE_KEY expects it. */
export async function testSigningKey(): Promise<{ privateKey: string; publicJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair(TOKEN_ALGORITHM, { extractable: true });
  const kid = `test-${randomUUID()}`;
  return {
    privateKey: JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg: TOKEN_ALGORITHM }),
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: TOKEN_ALGORITHM },
  };
}

/** Collects JSON log lines written by a server under test. */
export class LogCapture {
  readonly lines: Record<string, unknown>[] = [];
  private readonly watchers = new Set<() => void>();

  write(chunk: string): void {
    for (const line of chunk.split('\n')) if (line.trim()) this.lines.push(JSON.parse(line) as Record<string, unknown>);
    for (const watcher of this.watchers) watcher();
  }

  /** The first line, written already or to come, that `matches`; fails after `timeoutMs` without one. */
  waitFor(matches: (line: Record<string, unknown>) => boolean, timeoutMs = 5000): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const look = () => {
        const found = this.lines.find(matches);
        if (!found) return;
        this.watchers.delete(look);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.watchers.delete(look);
        reject(new Error(`no log line as expected within ${timeoutMs} ms`));
      }, timeoutMs);
      this.watchers.add(look);
      look();
    });
  }
}

/**
 * Signs access tokens the way auth does, for tests of other subgraphs: `env` carries the public key
 * for the servers under test.
 */
export async function testTokens(): Promise<{
  env: { JWT_PUBLIC_KEY: string; JWT_PRIVATE_KEY: string };
  /** A token for the user: a new sign-in (`sessionId`) unless one is given; 10 minutes' life unless told. */
  mint(subject: { userId: string; role?: 'USER' | 'ADMIN'; sessionId?: string; lifetimeSeconds?: number }): Promise<string>;
}> {
  const key = await testSigningKey();
  const privateKey = await importJWK(JSON.parse(key.privateKey) as JWK, TOKEN_ALGORITHM);
  return {
    env: { JWT_PUBLIC_KEY: JSON.stringify(key.publicJwk), JWT_PRIVATE_KEY: key.privateKey },
    mint: ({ userId, role = 'USER', sessionId = randomUUID(), lifetimeSeconds = 600 }) =>
      new SignJWT({ role, sid: sessionId })
        .setProtectedHeader({ alg: TOKEN_ALGORITHM })
        .setIssuer('fedstack-auth')
        .setAudience('fedstack')
        .setSubject(userId)
        .setJti(randomUUID())
        .setIssuedAt()
        .setExpirationTime(Math.floor(Date.now() / 1000) + lifetimeSeconds)
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
  const identity = await internalIdentity(self);
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

export { heldTransaction, ownerSql, ownerQuery, planOf } from '@fedstack/shared-db/testing';

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

/** What a subscription under test says next: a result, its end, or a protocol error. */
export type SubscriptionMessage = { next: FormattedExecutionResult } | { complete: true } | { error: unknown };

/** One subscription made through a `subgraphSocket`, read one message at a time. */
export interface TestSubscription {
  /** Its x-request-id, as the subgraph's log lines about it carry it. */
  readonly requestId: string;
  /** The next message; fails after `timeoutMs` without one, naming what it waited for. */
  next(timeoutMs?: number): Promise<SubscriptionMessage>;
  /** Ends it from the client's side (graphql-ws `complete`). */
  stop(): void;
}

/** A graphql-ws connection to a subgraph, as the gateway makes one; or why the subgraph closed it. */
export interface SubgraphSocket {
  /** Subscribes for a client: its token and headers go in `extensions.headers`, as the gateway sends them. */
  subscribe(query: string, options?: { variables?: Record<string, unknown>; token?: string; headers?: Record<string, string> }): TestSubscription;
  close(): Promise<void>;
}

/**
 * Connects to a subgraph's WebSocket endpoint (`url` is its http://…/graphql) with graphql-ws's own client
 * over `ws`, the way the gateway does (`assertion` in `connection_init`). Resolves once acknowledged;
 * rejects with `{ code, reason }` when the subgraph closes the connection instead (4403 refused...).
 */
export function subgraphSocket(url: string, assertion?: string, connectionParams: Record<string, string> = {}): Promise<SubgraphSocket> {
  return new Promise((resolve, reject) => {
    const client: Client = createClient({
      url: url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      lazy: false,
      retryAttempts: 0,
      connectionParams: { ...connectionParams, ...(assertion ? { [GATEWAY_ASSERTION_HEADER]: assertion } : {}) },
      onNonLazyError: (event) => {
        const { code, reason } = event as { code?: number; reason?: string };
        reject(Object.assign(new Error(`connection closed ${code}: ${reason}`), { code, reason }));
      },
      on: { connected: () => resolve(socketOf(client)) },
    });
  });
}

function socketOf(client: Client): SubgraphSocket {
  return {
    subscribe(query, options = {}) {
      const messages: SubscriptionMessage[] = [];
      let wake: (() => void) | undefined;
      const push = (message: SubscriptionMessage) => {
        messages.push(message);
        wake?.();
      };
      const requestId = randomUUID();
      const headers = { 'x-request-id': requestId, ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...options.headers };
      const stop = client.subscribe<Record<string, unknown>, Record<string, unknown>>(
        { query, variables: options.variables ?? {}, extensions: { headers } },
        { next: (result) => push({ next: result }), complete: () => push({ complete: true }), error: (error) => push({ error }) },
      );
      return {
        requestId,
        async next(timeoutMs = 5000) {
          const deadline = Date.now() + timeoutMs;
          while (messages.length === 0) {
            const left = deadline - Date.now();
            if (left <= 0) throw new Error(`no subscription message within ${timeoutMs} ms: ${query}`);
            await new Promise<void>((awake) => {
              const timer = setTimeout(awake, left);
              wake = () => {
                clearTimeout(timer);
                awake();
              };
            });
            wake = undefined;
          }
          return messages.shift() as SubscriptionMessage;
        },
        stop,
      };
    },
    close: async () => {
      await client.dispose();
    },
  };
}
