import { randomBytes } from 'node:crypto';
import { SERVICES, gatewayAssertions, parsePrivateKey, pollUntil } from '@fedstack/runtime';
import { developmentPasswordSettings } from '@fedstack/shared-db';
import { graphql, testSigningKey } from '@fedstack/service-kit/testing';
import { demoAdmin } from './clients';
import { startStack, type RunningStack } from './stack';
import { overMultipart, overSse, overWebSocket, wsClient } from './subscribers';

// Counts the loads of the offline explorer's module (Altair's whole page, about 7 MB of heap), which
// production never serves. On the test's global: the mock runs as the imports below load, before any
// variable of this file is set.
type ExplorerLoads = { explorerLoads?: number };
jest.mock('altair-static', () => {
  (globalThis as ExplorerLoads).explorerLoads = ((globalThis as ExplorerLoads).explorerLoads ?? 0) + 1;
  return jest.requireActual<object>('altair-static');
});

/**
 * The rules that hold only in production, on a stack configured as the compose file does: every
 * process in production mode with keys of its own, metrics on a port of their own, and subgraphs that
 * answer nobody but the gateway.
 */
describe('a production stack', () => {
  let stack: RunningStack;
  let gatewayKey: Awaited<ReturnType<typeof testSigningKey>>;

  beforeAll(async () => {
    gatewayKey = await testSigningKey();
    const internalKeys: Record<string, string> = Object.fromEntries(
      await Promise.all(SERVICES.map(async (service) => [service, (await testSigningKey()).privateKey] as const)),
    );
    const production = { NODE_ENV: 'production', METRICS_PORT: '0' };
    stack = await startStack(
      { ...production, GATEWAY_PRIVATE_KEY: gatewayKey.privateKey },
      // The test run's service roles have the development passwords; production must be told them.
      developmentPasswordSettings(),
      (name) => ({
        ...production,
        GATEWAY_PUBLIC_KEY: JSON.stringify(gatewayKey.publicJwk),
        INTERNAL_PRIVATE_KEY: internalKeys[name],
        ...(name === 'auth' ? { THROTTLE_KEY_SECRET: randomBytes(32).toString('base64url') } : {}),
      }),
    );
  });
  afterAll(() => stack?.stop());

  it('serves clients through the gateway, across every subgraph', async () => {
    const admin = await demoAdmin(stack.gatewayUrl);
    const result = await graphql(stack.gatewayUrl, '{ me { email profile { displayName } paymentTotals { currency } auditTrail { edges { cursor } } } }', {
      token: admin.accessToken,
    });
    expect(result.errors).toBeUndefined();
    expect(result.data).toMatchObject({ me: { email: 'admin@example.com' } });
  });

  it('refuses a client that calls a subgraph directly, with or without a forged gateway assertion', async () => {
    const admin = await demoAdmin(stack.gatewayUrl);
    const impostor = await testSigningKey();
    const forged = await gatewayAssertions(await parsePrivateKey(impostor.privateKey, 'test'))('profile');
    const attempts: Record<string, string>[] = [{}, { 'x-gateway-assertion': forged }, { 'x-gateway-assertion': 'garbage' }];
    for (const headers of attempts) {
      const response = await fetch(stack.subgraphUrls.profile, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${admin.accessToken}`, ...headers },
        body: JSON.stringify({ query: '{ _service { sdl } }' }),
      });
      expect(response.status).toBe(401);
      const body = (await response.json()) as { errors: { message: string; extensions: { code: string } }[] };
      expect(body.errors[0]).toMatchObject({
        message: expect.stringMatching(/^The profile subgraph answers only the gateway/),
        extensions: { code: 'UNAUTHENTICATED' },
      });
    }
    // The assertion the gateway made for another subgraph does not open this one either.
    const forAuth = await gatewayAssertions(await parsePrivateKey(gatewayKey.privateKey, 'test'))('auth');
    const crossed = await fetch(stack.subgraphUrls.profile, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-gateway-assertion': forAuth },
      body: JSON.stringify({ query: '{ _service { sdl } }' }),
    });
    expect(crossed.status).toBe(401);
    // Health checks stay open to the orchestrator.
    expect((await fetch(stack.subgraphUrls.profile.replace('/graphql', '/readyz'))).status).toBe(200);
  });

  it('answers SUBGRAPH_UNAVAILABLE through a gateway whose key the subgraphs do not hold (UNAUTHENTICATED signed clients out), closes its subscriptions to be tried again, is not ready, and serves both gateways of a rotation once they hold both keys', async () => {
    const admin = await demoAdmin(stack.gatewayUrl);
    const next = await testSigningKey();
    const rotated = await stack.extraGateway({ NODE_ENV: 'production', METRICS_PORT: '0', GATEWAY_PRIVATE_KEY: next.privateKey });
    const query = '{ me { email profile { displayName } } }';
    const refused = await graphql(rotated.url, query, { token: admin.accessToken });
    expect(refused.errors?.map((error) => [error.extensions?.code, error.message])).toEqual([
      ['SUBGRAPH_UNAVAILABLE', expect.stringMatching(/^The auth subgraph refused this gateway's assertion: its GATEWAY_PUBLIC_KEY does not hold/)],
    ]);
    // A subscription through it is told to connect again later (1013), not to sign in again (4401) or give up (4403).
    const client = wsClient(rotated.url, admin.accessToken);
    try {
      expect((await overWebSocket(client, 'subscription { paymentUpdated { id } }').ended).error).toEqual({ code: 1013, reason: expect.any(String) });
    } finally {
      await client.dispose();
    }
    // Not ready, so that no load balancer sends it clients: every subgraph refuses it.
    const readyz = async (url: string) => {
      const response = await fetch(url.replace('/graphql', '/readyz'));
      return { status: response.status, body: (await response.json()) as { reason?: string } };
    };
    expect(await readyz(rotated.url)).toEqual({
      status: 503,
      body: {
        status: 'unavailable',
        reason: expect.stringMatching(/^the subgraphs refuse this gateway's assertion: their GATEWAY_PUBLIC_KEY does not hold its key/),
      },
    });
    expect((await readyz(stack.gatewayUrl)).status).toBe(200);
    // docs/operations.md, "Rotating keys": each subgraph given both public keys, one at a time, then either gateway is served.
    for (const name of SERVICES) {
      await stack.stopSubgraph(name);
      await stack.startSubgraph(name, { GATEWAY_PUBLIC_KEY: JSON.stringify({ keys: [gatewayKey.publicJwk, next.publicJwk] }) });
    }
    await pollUntil('the rotated gateway ready', async () => ((await readyz(rotated.url)).status === 200 ? true : undefined), {
      timeoutMs: 10_000,
      intervalMs: 250,
    });
    for (const url of [stack.gatewayUrl, rotated.url]) {
      expect(await graphql(url, query, { token: admin.accessToken })).toEqual(
        expect.objectContaining({ data: { me: { email: 'admin@example.com', profile: expect.any(Object) } } }),
      );
    }
  });

  it('hides the schema from error messages: no "Did you mean" suggestions', async () => {
    const result = await graphql(stack.gatewayUrl, '{ mee { emial } }');
    expect(result.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(JSON.stringify(result.errors)).not.toMatch(/Did you mean|"me"/);
  });

  // A variable's value is checked apart from the document, and its errors suggested an enum value or an
  // input field by name to anyone, signed in or not, over every transport.
  const NEAR_MISSES = [{ filter: { role: 'ADMN' } }, { filter: { rol: 'USER' } }];
  const FILTERED = 'query ($filter: UserFilter) { users(first: 1, filter: $filter) { edges { node { id } } } }';

  it("names no enum value or input field near a variable's bad value, by HTTP", async () => {
    for (const variables of NEAR_MISSES) {
      const result = await graphql(stack.gatewayUrl, FILTERED, { variables });
      expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(JSON.stringify(result.errors)).not.toMatch(/Did you mean|ADMIN|"role"/);
    }
  });

  it("names no enum value or input field near a variable's bad value, over WebSocket, SSE or multipart", async () => {
    const admin = await demoAdmin(stack.gatewayUrl);
    const client = wsClient(stack.gatewayUrl, admin.accessToken);
    try {
      for (const variables of NEAR_MISSES) {
        const answers = await Promise.all(
          [
            overWebSocket(client, FILTERED, variables),
            overSse(stack.gatewayUrl, admin.accessToken, FILTERED, variables),
            overMultipart(stack.gatewayUrl, admin.accessToken, FILTERED, variables),
          ].map(async (subscription) => ({ ending: await subscription.ended, results: subscription.pending })),
        );
        expect(JSON.stringify(answers)).toMatch(/BAD_USER_INPUT/);
        expect(JSON.stringify(answers)).not.toMatch(/Did you mean|ADMIN|"role"/);
      }
    } finally {
      await client.dispose();
    }
  });

  it('answers a malformed or mismatched persisted-query extension as the client’s bad input, not an internal error', async () => {
    const zeros = '0'.repeat(64);
    for (const persistedQuery of [{ version: 1, sha256Hash: zeros }, { version: 2, sha256Hash: zeros }, 'x']) {
      const response = await fetch(stack.gatewayUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ __typename }', extensions: { persistedQuery } }),
      });
      expect(response.status).toBe(400);
      const { errors } = (await response.json()) as { errors: { message: string; extensions: { code: string } }[] };
      expect(errors).toEqual([{ message: expect.stringMatching(/^"extensions\.persistedQuery/), extensions: { code: 'BAD_USER_INPUT' } }]);
    }
  });

  it('serves metrics on their own port only', async () => {
    expect((await fetch(stack.gatewayUrl.replace('/graphql', '/metrics'))).status).toBe(404);
    const metricsUrl = stack.gateway.metricsUrl as string;
    expect(new URL(metricsUrl).port).not.toBe(new URL(stack.gatewayUrl).port);
    const metrics = await (await fetch(metricsUrl)).text();
    expect(metrics).toMatch(/^graphql_requests_total\{/m);
  });

  it('serves no offline explorer, and never loads it', async () => {
    expect((await fetch(stack.gatewayUrl.replace('/graphql', '/explorer/'))).status).toBe(404);
    expect((globalThis as ExplorerLoads).explorerLoads ?? 0).toBe(0);
  });
});
