import { createServer, type Server } from 'node:http';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPOSITORY_ROOT, pollUntil } from '@fedstack/runtime';
import { NO_POSITIONS, graphql, testSigningKey } from '@fedstack/service-kit/testing';
import type { RunningStack } from './stack';

/**
 * End to end: the real gateway in front of the four real subgraphs, over HTTP. Every test talks to the
 * gateway the way an app would. Defined once, run on the run's databases (e2e.test.ts) and again after
 * each service has been moved to a database of its own (split.test.ts).
 */
export function endToEndTests(current: () => RunningStack): void {
  let stack: RunningStack;
  let adminToken: string;

  beforeAll(async () => {
    stack = current();
    const login = await graphql<{ login: { accessToken: string } }>(
      stack.gatewayUrl,
      'mutation { login(input: { email: "admin@example.com", password: "admin-demo-password" }) { accessToken } }',
    );
    adminToken = login.data?.login.accessToken as string;
  });

  const ME = `{ me { email profile { displayName } payments(first: 5) { edges { node { amount currency } } } } }`;
  let seq = 0;
  const email = () => `e2e-${Date.now().toString(36)}-${(seq += 1)}@example.com`;

  async function newUser(): Promise<{ email: string; accessToken: string; refreshToken: string }> {
    const address = email();
    const registered = await graphql<{ register: { accessToken: string; refreshToken: string } }>(
      stack.gatewayUrl,
      'mutation ($input: RegisterInput!) { register(input: $input) { accessToken refreshToken } }',
      { variables: { input: { email: address, password: 'end to end password' } } },
    );
    expect(registered.errors).toBeUndefined();
    return { email: address, ...(registered.data?.register as { accessToken: string; refreshToken: string }) };
  }

  it('register → login → update profile → create payment → one query across auth, profile and payments', async () => {
    const { email: address } = await newUser();
    const login = await graphql<{ login: { accessToken: string } }>(
      stack.gatewayUrl,
      'mutation ($input: LoginInput!) { login(input: $input) { accessToken } }',
      { variables: { input: { email: address, password: 'end to end password' } } },
    );
    const token = login.data?.login.accessToken as string;
    const profile = await graphql(stack.gatewayUrl, 'mutation { updateMyProfile(input: { displayName: "Eve Endtoend" }) { displayName } }', { token });
    expect(profile.errors).toBeUndefined();
    const payment = await graphql(
      stack.gatewayUrl,
      `
        mutation {
          createPayment(input: { amount: "19.90", currency: "EUR", paymentMethodToken: "tok_visa" }, idempotencyKey: "e2e-1") {
            status
          }
        }
      `,
      { token },
    );
    expect(payment.data).toEqual({ createPayment: { status: 'SUCCEEDED' } });

    const me = await graphql(stack.gatewayUrl, ME, { token });
    expect(me.errors).toBeUndefined();
    expect(me.data).toEqual({
      me: { email: address, profile: { displayName: 'Eve Endtoend' }, payments: { edges: [{ node: { amount: '19.90', currency: 'EUR' } }] } },
    });
  });

  it('charges an amount written in the query exactly as written, and refuses one the planner would round, charging nothing', async () => {
    const { accessToken: token } = await newUser();
    const pay = (amount: string, key: string) =>
      graphql<{ createPayment: { amount: string } }>(
        stack.gatewayUrl,
        `mutation { createPayment(input: { amount: ${amount}, currency: "EUR", paymentMethodToken: "tok_visa" }, idempotencyKey: "${key}") { amount } }`,
        { token },
      );
    expect((await pay('12.50', 'exact')).data).toEqual({ createPayment: { amount: '12.50' } });
    // A JavaScript number holds neither: the first reached payments as 10, the second failed as an internal error.
    for (const [amount, key] of [
      ['9.999999999999999999', 'rounded'],
      ['1e400', 'infinite'],
    ] as const) {
      const refused = await pay(amount, key);
      expect({ status: refused.status, errors: refused.errors }).toEqual({
        status: 400,
        errors: [
          expect.objectContaining({
            message: expect.stringContaining(`Decimal literal ${amount} cannot be passed on exactly`),
            extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }),
          }),
        ],
      });
    }
    const me = await graphql<{ me: { payments: { edges: { node: { amount: string } }[] } } }>(stack.gatewayUrl, ME, { token });
    expect(me.data?.me.payments.edges.map(({ node }) => node.amount)).toEqual(['12.50']);
  });

  it("answers BAD_USER_INPUT for a value written in the query that a scalar refuses, as it does in a variable (it was the subgraph's GRAPHQL_VALIDATION_FAILED)", async () => {
    const { accessToken: token } = await newUser();
    const refused = await Promise.all([
      graphql(
        stack.gatewayUrl,
        'mutation { createPayment(input: { amount: "12,50", currency: "EUR", paymentMethodToken: "tok_visa" }, idempotencyKey: "comma") { id } }',
        { token },
      ),
      graphql(stack.gatewayUrl, 'mutation { login(input: { email: "not-an-email", password: "x" }) { accessToken } }'),
      graphql(stack.gatewayUrl, '{ auditLog(first: 1, filter: { from: "0000-01-01T00:00:00Z" }) { edges { cursor } } }', { token: adminToken }),
    ]);
    expect(
      refused.map((answer) => ({
        code: answer.errors?.[0]?.extensions?.code,
        named: /found "(12,50|not-an-email|0000-01-01T00:00:00Z)"/.test(answer.errors?.[0]?.message ?? ''),
      })),
    ).toEqual(Array.from({ length: 3 }, () => ({ code: 'BAD_USER_INPUT', named: true })));
  });

  it('refuses at once, anonymous, a list nested in an e-mail address (the planner held the gateway for hours), and serves the next request', async () => {
    const nested = (depth: number) => `${'['.repeat(depth)}"a@b.co"${']'.repeat(depth)}`;
    for (const depth of [2, 40]) {
      const refused = await graphql(stack.gatewayUrl, `mutation { login(input: { email: ${nested(depth)}, password: "x" }) { accessToken } }`, {
        timeoutMs: 10_000,
      });
      expect({ status: refused.status, errors: refused.errors }).toEqual({
        status: 400,
        errors: [
          expect.objectContaining({
            message: expect.stringContaining('EmailAddress takes a single value'),
            extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }),
          }),
        ],
      });
    }
    expect((await graphql(stack.gatewayUrl, '{ __typename }', { timeoutMs: 10_000 })).data).toEqual({ __typename: 'Query' });
  });

  it("answers an admin's query that touches all four subgraphs with seeded data", async () => {
    const result = await graphql<{
      users: { edges: { node: { email: string; profile: { displayName: string }; paymentTotals: unknown[]; auditTrail: { edges: unknown[] } } }[] };
      adminStats: { usersByRole: { role: string; count: number }[] };
    }>(
      stack.gatewayUrl,
      `
        {
          users(first: 50, filter: { emailPrefix: "carol@" }) {
            edges {
              node {
                email
                profile {
                  displayName
                }
                payments(first: 5) {
                  edges {
                    node {
                      amount
                      currency
                      status
                      refunds {
                        amount
                      }
                    }
                  }
                }
                paymentTotals {
                  currency
                  amount
                }
                auditTrail(first: 5) {
                  edges {
                    node {
                      action
                    }
                  }
                }
              }
            }
          }
          adminStats {
            usersByRole {
              role
              count
            }
          }
        }
      `,
      { token: adminToken },
    );
    expect(result.errors).toBeUndefined();
    const carol = result.data?.users.edges[0]?.node;
    expect(carol).toMatchObject({ email: 'carol@example.com', profile: { displayName: 'Carol Dupont' } });
    expect(carol?.paymentTotals).toEqual([
      { currency: 'GBP', amount: '75.00' },
      { currency: 'KWD', amount: '12.345' },
    ]);
    expect(result.data?.adminStats.usersByRole.find((entry) => entry.role === 'ADMIN')?.count).toBeGreaterThanOrEqual(1);
  });

  it('suspends through the gateway: the refresh token stops working and the audit trail shows it', async () => {
    const user = await newUser();
    const me = await graphql<{ me: { id: string } }>(stack.gatewayUrl, '{ me { id } }', { token: user.accessToken });
    const userId = me.data?.me.id as string;
    const suspended = await graphql(stack.gatewayUrl, 'mutation ($id: ID!) { suspendUser(userId: $id, reason: "e2e") { id email status } }', {
      token: adminToken,
      variables: { id: userId },
      headers: { 'x-request-id': `e2e-suspend-${userId}` },
    });
    expect(suspended.data).toEqual({ suspendUser: { id: userId, email: user.email, status: 'SUSPENDED' } });
    const refresh = await graphql(stack.gatewayUrl, 'mutation ($t: String!) { refreshSession(refreshToken: $t) { accessToken } }', {
      variables: { t: user.refreshToken },
    });
    expect(refresh.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const trail = await graphql<{ user: { auditTrail: { edges: { node: { action: string; requestId: string; actor: { email: string } } }[] } } }>(
      stack.gatewayUrl,
      'query ($id: ID!) { user(id: $id) { auditTrail { edges { node { action requestId actor { email } } } } } }',
      { token: adminToken, variables: { id: userId } },
    );
    // The request id the client sent reached the admin subgraph through the gateway.
    expect(trail.data?.user.auditTrail.edges.map((edge) => edge.node)).toEqual([
      { action: 'user.suspend', requestId: `e2e-suspend-${userId}`, actor: { email: 'admin@example.com' } },
    ]);
  });

  it('answers UNAUTHENTICATED for a bad token', async () => {
    const result = await graphql(stack.gatewayUrl, '{ me { id } }', { token: 'not.a.token' });
    expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('refuses WAL positions it never gave (x-wal-positions) as bad input, naming the header, and nothing runs', async () => {
    const user = await newUser();
    for (const header of ['payments', 'billing=0/1', 'payments=yesterday', 'x'.repeat(600)]) {
      const result = await graphql(stack.gatewayUrl, 'mutation { updateMyProfile(input: { displayName: "Never" }) { displayName } }', {
        token: user.accessToken,
        headers: { 'x-wal-positions': header },
      });
      expect({ header, status: result.status, code: result.errors?.[0]?.extensions?.code, field: result.errors?.[0]?.extensions?.field }).toEqual({
        header,
        status: 400,
        code: 'BAD_USER_INPUT',
        field: 'x-wal-positions',
      });
      expect(result.errors?.[0]?.message).toMatch(/^x-wal-positions /);
    }
    const me = await graphql<{ me: { profile: { displayName: string | null } } }>(stack.gatewayUrl, '{ me { profile { displayName } } }', {
      token: user.accessToken,
    });
    expect(me.data?.me.profile.displayName).not.toBe('Never');
  });

  it('forwards the request id to the subgraphs and echoes it', async () => {
    const response = await fetch(stack.gatewayUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'e2e-request-42' },
      body: JSON.stringify({ query: '{ me { id } }' }),
    });
    expect(response.headers.get('x-request-id')).toBe('e2e-request-42');
  });

  it("takes no deadline from a client: x-request-deadline is the gateway's to send, and a client's in the past is not refused", async () => {
    const answer = await graphql(stack.gatewayUrl, '{ me { email profile { displayName } } }', {
      token: adminToken,
      headers: { 'x-request-deadline': String(Date.now() - 60_000) },
    });
    expect({ errors: answer.errors, email: (answer.data?.me as { email?: string } | undefined)?.email }).toEqual({
      errors: undefined,
      email: 'admin@example.com',
    });
  });

  it('serves partial data with an error naming a stopped subgraph, and recovers when it returns', async () => {
    const user = await newUser();
    await graphql(stack.gatewayUrl, 'mutation { updateMyProfile(input: { displayName: "Partial" }) { displayName } }', { token: user.accessToken });
    await stack.stopSubgraph('profile');
    try {
      const partial = await graphql<{ me: { email: string; profile: unknown; payments: unknown } }>(stack.gatewayUrl, ME, { token: user.accessToken });
      expect(partial.data?.me).toEqual({ email: user.email, profile: null, payments: { edges: [] } });
      expect(partial.errors).toEqual([
        expect.objectContaining({
          message: 'The profile subgraph could not be reached',
          extensions: expect.objectContaining({ code: 'SUBGRAPH_UNAVAILABLE', serviceName: 'profile' }),
        }),
      ]);
    } finally {
      await stack.startSubgraph('profile');
    }
    const whole = await graphql(stack.gatewayUrl, ME, { token: user.accessToken });
    expect(whole.errors).toBeUndefined();
    expect(whole.data).toEqual({ me: { email: user.email, profile: { displayName: 'Partial' }, payments: { edges: [] } } });
  });

  it('times out a subgraph that hangs and still answers with the others', async () => {
    const hanging: Server = createServer(() => undefined);
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const port = (hanging.address() as { port: number }).port;
    // The timeout is every subgraph's: auth's part of the answer must come within it too, on a busy machine.
    const slow = await stack.extraGateway({ ADMIN_SUBGRAPH_URL: `http://127.0.0.1:${port}/graphql`, SUBGRAPH_TIMEOUT_MS: '1000' });
    try {
      const result = await graphql<{ me: { email: string; auditTrail: unknown } }>(slow.url, '{ me { email auditTrail { edges { cursor } } } }', {
        token: adminToken,
      });
      expect(result.data?.me).toEqual({ email: 'admin@example.com', auditTrail: null });
      expect(result.errors?.[0]).toMatchObject({
        message: 'The admin subgraph did not answer within 1000 ms',
        extensions: { code: 'SUBGRAPH_UNAVAILABLE', serviceName: 'admin' },
      });
      const metrics = await (await fetch(slow.url.replace('/graphql', '/metrics'))).text();
      expect(metrics).toMatch(/subgraph_fetch_duration_seconds_count\{[^}]*subgraph="admin"[^}]*outcome="timeout"[^}]*\} 1/);
    } finally {
      await slow.server.stop();
      hanging.closeAllConnections();
      hanging.close();
    }
  });

  it('is healthy, ready, and reports requests and per-subgraph latency in /metrics', async () => {
    const base = stack.gatewayUrl.replace('/graphql', '');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${base}/readyz`)).json()).toEqual({ status: 'ready' });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/graphql_requests_total\{[^}]*\} [1-9]/);
    expect(metrics).toMatch(/subgraph_fetch_duration_seconds_count\{[^}]*subgraph="auth"[^}]*outcome="ok"/);
  });

  it('reads from the replicas auth is given (DB_REPLICAS=1 npm test), and from the primary otherwise', async () => {
    const user = await newUser();
    const metrics = async () => (await fetch(stack.subgraphUrls.auth.replace('/graphql', '/metrics'))).text();
    const reads = (text: string, side: string) =>
      Number(new RegExp(`^db_possibly_stale_reads_total\\{[^}]*served_by="${side}"[^}]*\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    const replicated = /^db_replica_usable\{/m.test(await metrics());
    const side = replicated ? 'replica' : 'primary';
    // A replica serves once a check has found it usable: read until it has.
    await pollUntil(
      `a possibly-stale read served by the ${side}`,
      async () => {
        await graphql(stack.gatewayUrl, ME, { token: user.accessToken, headers: NO_POSITIONS });
        return reads(await metrics(), side) > 0;
      },
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    if (!replicated) expect(reads(await metrics(), 'replica')).toBe(0);
  });

  it('shows Apollo Sandbox to a browser outside production', async () => {
    const page = await fetch(stack.gatewayUrl, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/sandbox/i);
  });

  describe('in production mode', () => {
    let production: Awaited<ReturnType<RunningStack['extraGateway']>>;
    beforeAll(async () => {
      production = await stack.extraGateway({
        NODE_ENV: 'production',
        GATEWAY_PRIVATE_KEY: (await testSigningKey()).privateKey,
        METRICS_PORT: '0',
        MAX_QUERY_DEPTH: '6',
        MAX_QUERY_ALIASES: '10',
        MAX_QUERY_DIRECTIVES: '5',
        MAX_QUERY_TOKENS: '400',
        MAX_BODY_BYTES: '20000',
        CORS_ORIGINS: 'https://app.example.com',
      });
    });
    afterAll(() => production.server.stop());

    async function subgraphCalls(): Promise<number> {
      const metrics = await (await fetch(production.server.metricsUrl as string)).text();
      return [...metrics.matchAll(/^subgraph_fetch_duration_seconds_count\{[^}]*\} (\d+)$/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
    }

    it.each([
      ['too deep', `{ me { payments { edges { node { user { payments { edges { node { id } } } } } } } } }`, 'OPERATION_TOO_COMPLEX'],
      ['alias-heavy', `{ ${Array.from({ length: 12 }, (_, i) => `a${i}: me { id }`).join(' ')} }`, 'OPERATION_TOO_COMPLEX'],
      ['directive-heavy', `{ me { ${Array.from({ length: 6 }, (_, i) => `f${i}: id @include(if: true)`).join(' ')} } }`, 'OPERATION_TOO_COMPLEX'],
      ['too costly', `{ users(first: 200) { edges { node { payments(first: 50) { edges { node { refunds { amount } } } } } } } }`, 'OPERATION_TOO_COMPLEX'],
      [
        'two-password (two sign-ins aliased)',
        `mutation { a: login(input: { email: "x@example.com", password: "p" }) { accessToken } b: login(input: { email: "x@example.com", password: "p" }) { accessToken } }`,
        'OPERATION_TOO_COMPLEX',
      ],
      ['oversized (too many tokens)', `{ me { ${'id '.repeat(500)} } }`, 'GRAPHQL_PARSE_FAILED'],
    ])('refuses a %s operation before calling any subgraph', async (_label, query, code) => {
      const before = await subgraphCalls();
      const result = await graphql(production.url, query, { token: adminToken });
      expect(result.errors?.[0]?.extensions?.code).toBe(code);
      expect(result.data ?? null).toBeNull();
      expect(await subgraphCalls()).toBe(before);
    });

    it('refuses introspection and hides Sandbox', async () => {
      const result = await graphql(production.url, '{ __schema { types { name } } }');
      expect(result.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(result.errors?.[0]?.message).toMatch(/introspection/i);
      const page = await (await fetch(production.url, { headers: { accept: 'text/html' } })).text();
      expect(page).not.toMatch(/embeddable-sandbox/);
    });

    it('allows cross-origin calls from the configured origins only', async () => {
      const preflight = (origin: string) =>
        fetch(production.url, {
          method: 'OPTIONS',
          headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,authorization' },
        });
      expect((await preflight('https://app.example.com')).headers.get('access-control-allow-origin')).toBe('https://app.example.com');
      expect((await preflight('https://evil.example.net')).headers.get('access-control-allow-origin')).toBeNull();
      // A browser's client may send its WAL positions and read those an answer gives (read-your-writes).
      const withPositions = await fetch(production.url, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-wal-positions' },
      });
      expect(withPositions.headers.get('access-control-allow-headers')).toMatch(/x-wal-positions/i);
      const answered = await fetch(production.url, {
        method: 'POST',
        headers: { origin: 'https://app.example.com', 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ __typename }' }),
      });
      expect(answered.headers.get('access-control-expose-headers')).toMatch(/x-wal-positions/i);
    });

    it('refuses batched requests and oversized bodies', async () => {
      const batch = await fetch(production.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([{ query: '{ me { id } }' }, { query: '{ me { id } }' }]),
      });
      expect(batch.status).toBe(400);
      const big = await fetch(production.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ me { id } }', variables: { padding: 'x'.repeat(30_000) } }),
      });
      expect(big.status).toBe(413);
      expect(await big.json()).toEqual({ errors: [{ message: 'Request body is larger than this server accepts', extensions: { code: 'BAD_REQUEST' } }] });
    });

    it('still answers ordinary operations, with subgraph errors passed on and nothing internal leaked', async () => {
      const ok = await graphql(production.url, '{ me { email } }', { token: adminToken });
      expect(ok.data).toEqual({ me: { email: 'admin@example.com' } });
      const forbidden = await graphql<{ users: unknown }>(production.url, '{ users { edges { cursor } } }', { token: (await newUser()).accessToken });
      expect(forbidden.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', serviceName: 'auth' });
      expect(JSON.stringify(forbidden.errors)).not.toMatch(/stacktrace|127\.0\.0\.1/);
    });
  });

  describe('supergraph reloading', () => {
    it('picks up a changed supergraph.graphql, and refuses a broken one while the old keeps serving', async () => {
      const folder = mkdtempSync(path.join(os.tmpdir(), 'fedstack-supergraph-'));
      const file = path.join(folder, 'supergraph.graphql');
      copyFileSync(path.join(REPOSITORY_ROOT, 'supergraph.graphql'), file);
      const watched = await stack.extraGateway({ SUPERGRAPH_FILE: file, SUPERGRAPH_POLL_MS: '50' });
      const waitFor = (predicate: () => boolean) => pollUntil('logged', predicate, { timeoutMs: 5000 });
      try {
        writeFileSync(file, 'this is not a supergraph');
        await waitFor(() => watched.logs.lines.some((line) => line.msg === 'new supergraph refused; the previous one keeps serving'));
        expect((await graphql(watched.url, '{ me { email } }', { token: adminToken })).data).toEqual({ me: { email: 'admin@example.com' } });

        const original = readFileSync(path.join(REPOSITORY_ROOT, 'supergraph.graphql'), 'utf8');
        writeFileSync(file, original.replace(/\n\s*lastLoginAt: DateTime[^\n]*\n/, '\n'));
        await waitFor(() => watched.logs.lines.some((line) => line.msg === 'supergraph reloaded'));
        const removed = await graphql(watched.url, '{ me { lastLoginAt } }', { token: adminToken });
        expect(removed.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
      } finally {
        await watched.server.stop();
        rmSync(folder, { recursive: true, force: true });
      }
    });
  });
}
