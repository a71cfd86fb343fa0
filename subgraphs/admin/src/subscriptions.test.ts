import { randomUUID } from 'node:crypto';
import { freePort, gatewayAssertions, generatePrivateKey } from '@fedstack/runtime';
import type { SubgraphServer } from '@fedstack/service-kit';
import {
  LogCapture,
  fakePeer,
  graphql,
  ownerQuery,
  subgraphSocket,
  testTokens,
  type SubgraphSocket,
  type SubscriptionMessage,
  type TestSubscription,
} from '@fedstack/service-kit/testing';
import { loadAdminConfig } from './config';
import { createAdminServer } from './server';

/**
 * auditEntryAdded at the admin subgraph, subscribed to as the gateway does (graphql-ws over `ws`): every
 * entry as it is recorded, for active admins only, and the gateway's assertion on the connection.
 */
const ADDED = 'subscription { auditEntryAdded { id action targetType targetId actor { id } payload details requestId } }';

/** Asserts the subscription's end: one result with `code`, then complete. */
async function endsWith(subscription: TestSubscription, code: string): Promise<{ message: string; elapsedMs: number }> {
  const started = performance.now();
  const last = await subscription.next();
  const elapsedMs = performance.now() - started;
  if (!('next' in last)) throw new Error(`expected a final result with ${code}, got ${JSON.stringify(last)}`);
  expect(last.next.errors?.[0]?.extensions?.code).toBe(code);
  expect(await subscription.next()).toEqual({ complete: true });
  return { message: last.next.errors?.[0]?.message as string, elapsedMs };
}

const entryOf = (message: SubscriptionMessage) => {
  if (!('next' in message) || message.next.errors) throw new Error(`expected an entry, got ${JSON.stringify(message)}`);
  return { ...(message.next.data as { auditEntryAdded: Record<string, unknown> }).auditEntryAdded, committedAt: message.next.extensions?.committedAt };
};

describe('auditEntryAdded', () => {
  let tokens: Awaited<ReturnType<typeof testTokens>>;
  let admin: SubgraphServer<'admin'>;
  let adminUrl: string;
  let socket: SubgraphSocket;
  const logs = new LogCapture();
  const peers: Partial<Record<'auth' | 'payments', Awaited<ReturnType<typeof fakePeer>>>> = {};
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    tokens = await testTokens();
    const adminPort = String(await freePort());
    for (const service of ['auth', 'payments'] as const) peers[service] = await fakePeer(service, { admin: `http://127.0.0.1:${adminPort}` });
    env = {
      ...process.env,
      ...tokens.env,
      LOG_LEVEL: 'info',
      AUTH_SUBGRAPH_URL: `${peers.auth?.url}/graphql`,
      PAYMENTS_SUBGRAPH_URL: `${peers.payments?.url}/graphql`,
      PROFILE_SUBGRAPH_URL: 'http://127.0.0.1:9/graphql',
    };
    admin = await createAdminServer({ config: loadAdminConfig({ ...env, ADMIN_PORT: adminPort }), logDestination: logs });
    adminUrl = `${await admin.listen()}/graphql`;
    socket = await subgraphSocket(adminUrl);
  });
  afterAll(async () => {
    await socket.close();
    await admin.stop();
    await Promise.all(Object.values(peers).map((peer) => peer.close()));
  });

  async function live(token: string) {
    const subscription = socket.subscribe(ADDED, { token });
    await logs.waitFor((line) => line.msg === 'subscription started' && line.requestId === subscription.requestId);
    return subscription;
  }

  /** An audit entry as auth (or payments) sends it through its outbox, delivered to admin. */
  async function deliver(from: 'auth' | 'payments', overrides: Record<string, unknown> = {}) {
    const record = {
      id: randomUUID(),
      actorId: randomUUID(),
      action: 'user.suspend',
      targetType: 'User',
      targetId: randomUUID(),
      payload: { before: { status: 'ACTIVE' }, after: { status: 'SUSPENDED' } },
      requestId: 'req-live',
      createdAt: new Date().toISOString(),
      ...overrides,
    };
    await peers[from]?.client.deliver('admin', { eventId: record.id, topic: 'audit.record', payload: record, createdAt: new Date(record.createdAt) });
    return record;
  }

  it('sends every entry as it is recorded, from auth and payments alike, each once however often it is delivered', async () => {
    const subscription = await live(await tokens.mint({ userId: randomUUID(), role: 'ADMIN' }));
    const before = Date.now();
    const suspension = await deliver('auth', { details: { reason: 'chargebacks' } });
    await deliver('auth', suspension);
    const refund = await deliver('payments', { action: 'payment.refund', targetType: 'Payment', payload: { amount: '4.00' } });
    const first = entryOf(await subscription.next());
    expect(first).toEqual({
      id: suspension.id,
      action: 'user.suspend',
      targetType: 'User',
      targetId: suspension.targetId,
      actor: { id: suspension.actorId },
      payload: suspension.payload,
      details: { reason: 'chargebacks' },
      requestId: 'req-live',
      committedAt: expect.any(String),
    });
    expect(Date.parse(String(first.committedAt))).toBeGreaterThanOrEqual(before - 1000);
    expect(entryOf(await subscription.next())).toMatchObject({ id: refund.id, action: 'payment.refund', payload: { amount: '4.00' } });
    subscription.stop();
  });

  it('drops a notification that names no entry, which any role of the database can send, and goes on', async () => {
    const subscription = await live(await tokens.mint({ userId: randomUUID(), role: 'ADMIN' }));
    // PostgreSQL checks no privilege for NOTIFY: any service's role can send one on admin's channel.
    await ownerQuery('admin', `SELECT pg_notify('admin_audit_entry_added', json_build_object('id', $1::text, 'committedAt', clock_timestamp())::text)`, [
      randomUUID(),
    ]);
    const entry = await deliver('auth');
    expect(entryOf(await subscription.next())).toMatchObject({ id: entry.id });
    await logs.waitFor((line) => line.msg === 'dropped an event its row does not bear out');
    subscription.stop();
  });

  it('refuses users (FORBIDDEN) and anonymous subscribers (UNAUTHENTICATED) with one result', async () => {
    expect((await endsWith(socket.subscribe(ADDED, { token: await tokens.mint({ userId: randomUUID() }) }), 'FORBIDDEN')).message).toMatch(/ADMIN role/);
    await endsWith(socket.subscribe(ADDED), 'UNAUTHENTICATED');
  });

  it('ends with FORBIDDEN within the bound when auth says the admin was demoted', async () => {
    const userId = randomUUID();
    const subscription = await live(await tokens.mint({ userId, role: 'ADMIN' }));
    await peers.auth?.client.deliver('admin', {
      eventId: randomUUID(),
      topic: 'account.changed',
      payload: { userId, version: 2, role: 'USER', status: 'ACTIVE', erasedAt: null },
      createdAt: new Date(),
    });
    const ended = await endsWith(subscription, 'FORBIDDEN');
    expect(ended.message).toMatch(/ADMIN role/);
    expect(ended.elapsedMs).toBeLessThan(2000);
  });

  it("ends a suspended admin's feed before the entry of the suspension, which carries the account's new state, reaches it", async () => {
    const userId = randomUUID();
    const subscription = await live(await tokens.mint({ userId, role: 'ADMIN' }));
    // As auth's outbox delivers it when the entry comes before the account's own event.
    await deliver('auth', {
      targetId: userId,
      details: { reason: 'their own suspension' },
      account: { userId, version: 2, role: 'ADMIN', status: 'SUSPENDED', erasedAt: null },
    });
    expect((await endsWith(subscription, 'FORBIDDEN')).message).toMatch(/suspended/);
  });

  it("refuses an account's state from payments, and one that is not the entry's target's", async () => {
    const userId = randomUUID();
    const account = { userId, version: 2, role: 'USER', status: 'SUSPENDED', erasedAt: null };
    await expect(deliver('payments', { action: 'payment.refund', targetId: userId, account })).rejects.toMatchObject({ status: 403 });
    await expect(deliver('auth', { targetId: randomUUID(), account })).rejects.toMatchObject({ status: 400 });
  });

  describe('when REQUIRE_GATEWAY is on', () => {
    let guarded: SubgraphServer<'admin'>;
    let guardedUrl: string;
    let gateway: Awaited<ReturnType<typeof generatePrivateKey>>;
    const guardedLogs = new LogCapture();

    beforeAll(async () => {
      gateway = await generatePrivateKey();
      const config = loadAdminConfig({
        ...env,
        ADMIN_PORT: '0',
        LOG_LEVEL: 'info',
        REQUIRE_GATEWAY: 'true',
        SUBGRAPH_SUBSCRIPTIONS_MAX_PER_CONNECTION: '1',
        SUBGRAPH_SUBSCRIPTIONS_MAX_PER_PROCESS: '2',
        GATEWAY_PUBLIC_KEY: JSON.stringify(gateway.publicJwk),
      });
      guarded = await createAdminServer({ config, logDestination: guardedLogs });
      guardedUrl = `${await guarded.listen()}/graphql`;
    });
    afterAll(() => guarded.stop());

    it('refuses a connection without the gateway’s assertion, or with a forged one or one for another subgraph (4403), and holds its limit of subscriptions per connection', async () => {
      const impostor = await generatePrivateKey();
      for (const assertion of [undefined, await gatewayAssertions(impostor)('admin'), await gatewayAssertions(gateway)('payments')]) {
        await expect(subgraphSocket(guardedUrl, assertion)).rejects.toMatchObject({ code: 4403 });
      }
      const connected = await subgraphSocket(guardedUrl, await gatewayAssertions(gateway)('admin'));
      try {
        // Served: the subscription is refused for what it is, not for where it came from.
        await endsWith(connected.subscribe(ADDED, { token: await tokens.mint({ userId: randomUUID() }) }), 'FORBIDDEN');
        // One at a time on this server's connections (SUBGRAPH_SUBSCRIPTIONS_MAX_PER_CONNECTION=1).
        const held = connected.subscribe(ADDED, { token: await tokens.mint({ userId: randomUUID(), role: 'ADMIN' }) });
        expect(
          (await endsWith(connected.subscribe(ADDED, { token: await tokens.mint({ userId: randomUUID(), role: 'ADMIN' }) }), 'TOO_MANY_SUBSCRIPTIONS')).message,
        ).toBe('At most 1 subscriptions per connection');
        held.stop();
      } finally {
        await connected.close();
      }
      expect((await graphql(guardedUrl, '{ auditLog { edges { cursor } } }')).status).toBe(401);
    });

    it("holds its limit of subscriptions per process over all its connections, as several gateway processes' can land on one (one process ran out of heap)", async () => {
      const assertion = await gatewayAssertions(gateway)('admin');
      const sockets = [await subgraphSocket(guardedUrl, assertion), await subgraphSocket(guardedUrl, assertion), await subgraphSocket(guardedUrl, assertion)];
      const asAdmin = async () => ({ token: await tokens.mint({ userId: randomUUID(), role: 'ADMIN' }) });
      try {
        // SUBGRAPH_SUBSCRIPTIONS_MAX_PER_PROCESS=2: one on each of two connections.
        for (const socket of sockets.slice(0, 2)) {
          const held = socket.subscribe(ADDED, await asAdmin());
          await guardedLogs.waitFor((line) => line.msg === 'subscription started' && line.requestId === held.requestId);
        }
        const refused = await endsWith((sockets[2] as SubgraphSocket).subscribe(ADDED, await asAdmin()), 'TOO_MANY_SUBSCRIPTIONS');
        expect(refused.message).toBe('This admin process holds the most subscriptions it may (2): subscribe again shortly');
      } finally {
        for (const socket of sockets) await socket.close();
      }
    });
  });
});
