import { randomUUID } from 'node:crypto';
import { freePort, pollUntil } from '@fedstack/runtime';
import type { SubgraphServer } from '@fedstack/service-kit';
import {
  ISOLATED_PEERS,
  LogCapture,
  fakePeer,
  graphql,
  ownerQuery,
  subgraphSocket,
  testTokens,
  ownerSql as sql,
  type SubgraphSocket,
  type SubscriptionMessage,
  type TestSubscription,
} from '@fedstack/service-kit/testing';
import type { PaymentRecord } from '@fedstack/shared-db';
import type { RowEvent } from '@fedstack/service-kit';
import { loadPaymentsConfig } from './config';
import type { PaymentsContext } from './context';
import { simulatedProcessor, type PaymentProcessor } from './domain/processor';
import { resolvers } from './resolvers';
import { createPaymentsServer } from './server';

/**
 * paymentUpdated at the payments subgraph, subscribed to as the gateway does (graphql-ws over `ws`), with
 * the real database: events from committed changes only, the account policy on every event and at every
 * account change, the token's expiry, and two processes each serving their own subscribers.
 */
const OWN = 'subscription { paymentUpdated { id status amount refundedAmount description user { id } } }';
const ONE = 'subscription ($id: ID) { paymentUpdated(id: $id) { id status refundedAmount } }';
const CREATE = `mutation ($input: CreatePaymentInput!, $key: String!) { createPayment(input: $input, idempotencyKey: $key) { id status } }`;
const REFUND = `mutation ($input: RefundPaymentInput!, $key: String!) { refundPayment(input: $input, idempotencyKey: $key) { id } }`;

type Payment = { id: string; status: string; refundedAmount: string };
const BOUND_MS = 2000;

/** The payment a result carries, or a failure saying what came instead. */
function paymentOf(message: SubscriptionMessage): Payment & { committedAt: string } {
  if (!('next' in message) || message.next.errors) throw new Error(`expected a payment, got ${JSON.stringify(message)}`);
  const payment = (message.next.data as { paymentUpdated: Payment }).paymentUpdated;
  return { ...payment, committedAt: String(message.next.extensions?.committedAt) };
}

/** Asserts the subscription's end: one result with `code`, then complete. */
async function endsWith(subscription: TestSubscription, code: string, timeoutMs = 5000): Promise<{ message: string; elapsedMs: number }> {
  const started = performance.now();
  const last = await subscription.next(timeoutMs);
  const elapsedMs = performance.now() - started;
  if (!('next' in last)) throw new Error(`expected a final result with ${code}, got ${JSON.stringify(last)}`);
  expect(last.next.errors?.[0]?.extensions?.code).toBe(code);
  expect(await subscription.next(timeoutMs)).toEqual({ complete: true });
  return { message: last.next.errors?.[0]?.message as string, elapsedMs };
}

describe('paymentUpdated', () => {
  let tokens: Awaited<ReturnType<typeof testTokens>>;
  let server: SubgraphServer<'payments'>;
  let url: string;
  let socket: SubgraphSocket;
  const logs = new LogCapture();
  /** Stand-ins for auth (account events) and admin (erasure), signed with keys of their own. */
  let auth: Awaited<ReturnType<typeof fakePeer>>;
  let admin: Awaited<ReturnType<typeof fakePeer>>;
  let env: NodeJS.ProcessEnv;
  /** Charges wait while `charging` is held. */
  let charging: Promise<void> = Promise.resolve();
  const processor: PaymentProcessor = {
    async charge(request) {
      await charging;
      return simulatedProcessor().charge(request);
    },
  };
  const adminId = randomUUID();
  let adminToken: string;

  beforeAll(async () => {
    tokens = await testTokens();
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    auth = await fakePeer('auth', { payments: origin });
    admin = await fakePeer('admin', { payments: origin });
    env = {
      ...process.env,
      ...tokens.env,
      ...ISOLATED_PEERS,
      AUTH_SUBGRAPH_URL: `${auth.url}/graphql`,
      ADMIN_SUBGRAPH_URL: `${admin.url}/graphql`,
      LOG_LEVEL: 'info',
    };
    server = await createPaymentsServer({ config: loadPaymentsConfig({ ...env, PAYMENTS_PORT: String(port) }), processor, logDestination: logs });
    url = `${await server.listen()}/graphql`;
    socket = await subgraphSocket(url);
    adminToken = await tokens.mint({ userId: adminId, role: 'ADMIN' });
  });
  afterAll(async () => {
    await socket.close();
    await server.stop();
    await auth.close();
    await admin.close();
  });

  /** Subscribes, and waits until the subscription is live (nothing committed from then on is missed). */
  async function live(query: string, options: { token?: string; variables?: Record<string, unknown> }, on = socket, capture = logs) {
    const subscription = on.subscribe(query, options);
    await capture.waitFor((line) => line.msg === 'subscription started' && line.requestId === subscription.requestId);
    return subscription;
  }

  async function user(): Promise<{ userId: string; token: string; sessionId: string }> {
    const userId = randomUUID();
    const sessionId = randomUUID();
    return { userId, sessionId, token: await tokens.mint({ userId, sessionId }) };
  }

  const pay = (token: string, amount = '10.00') =>
    graphql<{ createPayment: Payment }>(url, CREATE, {
      token,
      variables: { input: { amount, currency: 'EUR', description: 'Lunch', paymentMethodToken: 'tok_visa' }, key: randomUUID() },
    });

  /**
   * A succeeded payment of the user's, made and heard: a subscription made after this returns is not sent
   * its creation (an event committed just before a subscription may otherwise reach it, rightly, and a
   * test expecting something else next would be wrong).
   */
  async function announced(owner: { userId: string; token: string }): Promise<string> {
    const heard = await live(OWN, { token: owner.token });
    const [{ id } = { id: '' }] = await sql<{ id: string }>(
      `INSERT INTO payments.payments (user_id, amount, currency, status, description, refunded_amount) VALUES ($1, 10, 'EUR', 'SUCCEEDED', 'Lunch', 0) RETURNING id`,
      [owner.userId],
    );
    expect(paymentOf(await heard.next()).id).toBe(id);
    heard.stop();
    return id;
  }

  it('sends each change to the subscriber’s payments as it commits, read as it is now, with when it committed', async () => {
    const { userId, token } = await user();
    const subscription = await live(OWN, { token });
    let release = () => undefined as void;
    charging = new Promise((resolve) => (release = resolve));
    const before = Date.now();
    const created = pay(token);
    const pending = paymentOf(await subscription.next());
    expect(pending).toMatchObject({ status: 'PENDING', amount: '10.00', refundedAmount: '0.00', description: 'Lunch', user: { id: userId } });
    expect(Date.parse(pending.committedAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(pending.committedAt)).toBeLessThanOrEqual(Date.now());
    expect(pending.committedAt).toBe(new Date(pending.committedAt).toISOString());
    release();
    expect((await created).data?.createPayment).toEqual({ id: pending.id, status: 'SUCCEEDED' });
    expect(paymentOf(await subscription.next())).toMatchObject({ id: pending.id, status: 'SUCCEEDED' });

    const refund = await graphql(url, REFUND, { token: adminToken, variables: { input: { paymentId: pending.id, amount: '4.00' }, key: randomUUID() } });
    expect(refund.errors).toBeUndefined();
    expect(paymentOf(await subscription.next())).toMatchObject({ id: pending.id, status: 'PARTIALLY_REFUNDED', refundedAmount: '4.00' });
    subscription.stop();
  });

  it("reads a payment again for each change: an event's read joined one begun before its change committed, and sent the payment as it was", async () => {
    const owner = await user();
    const id = await announced(owner);
    // Reads through the server's own client; the first is held once it has read.
    let reads = 0;
    let release = () => undefined as void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const db = {
      async sql(...args: Parameters<typeof server.db.sql>) {
        const rows = await server.db.sql(...args);
        if ((reads += 1) === 1) await held;
        return rows;
      },
    };
    const ctx = { db } as unknown as PaymentsContext;
    // The field's own resolve, as graphql-js calls it for each event (the generated types allow other shapes).
    const { resolve } = (
      resolvers.Subscription as unknown as { paymentUpdated: { resolve: (event: RowEvent, args: object, ctx: PaymentsContext) => Promise<PaymentRecord> } }
    ).paymentUpdated;
    const event = (committedAt: string): RowEvent => ({ id, userId: owner.userId, committedAt });
    // One subscription reads the payment for an event; while it holds, a refund commits and is announced.
    const before = resolve(event(new Date().toISOString()), { id }, ctx);
    await pollUntil('the first read', async () => reads === 1, { timeoutMs: 2000, intervalMs: 5 });
    await sql(`UPDATE payments.payments SET refunded_amount = 4 WHERE id = $1`, [id]);
    const after = resolve(event(new Date().toISOString()), { id }, ctx);
    release();
    expect((await before).refundedAmount.toString()).toBe('0');
    expect((await after).refundedAmount.toString()).toBe('4');
  });

  it('takes the token the connection was opened with, for a subscription that carries none (Hive Gateway passes it so)', async () => {
    const me = await user();
    const other = await user();
    const connection = await subgraphSocket(url, undefined, { authorization: `Bearer ${me.token}` });
    try {
      const mine = await live(OWN, {}, connection);
      // A subscription's own token wins over its connection's.
      const theirs = await live(OWN, { token: other.token }, connection);
      const [paid] = await Promise.all([pay(me.token), pay(other.token)]);
      expect(paymentOf(await mine.next()).id).toBe(paid.data?.createPayment.id);
      expect(paymentOf(await theirs.next())).toMatchObject({ user: { id: other.userId } });
      mine.stop();
      theirs.stop();
    } finally {
      await connection.close();
    }
  });

  it("sends nothing of another user's payments, nor of changes rolled back", async () => {
    const me = await user();
    const other = await user();
    const subscription = await live(OWN, { token: me.token });
    await pay(other.token);
    const [{ id: mine } = { id: '' }] = await sql<{ id: string }>(
      `INSERT INTO payments.payments (user_id, amount, currency, status, refunded_amount) VALUES ($1, 1, 'EUR', 'SUCCEEDED', 0) RETURNING id`,
      [me.userId],
    );
    expect(paymentOf(await subscription.next()).id).toBe(mine);
    // A payment inserted and one updated, each rolled back: PostgreSQL notifies only at commit.
    await sql(
      `BEGIN;
       INSERT INTO payments.payments (user_id, amount, currency, status, refunded_amount) VALUES ('${me.userId}', 2, 'EUR', 'SUCCEEDED', 0);
       UPDATE payments.payments SET status = 'REFUNDED', refunded_amount = amount WHERE id = '${mine}';
       ROLLBACK`,
    );
    await sql(`UPDATE payments.payments SET status = 'PARTIALLY_REFUNDED', refunded_amount = 0.5 WHERE id = $1`, [mine]);
    expect(paymentOf(await subscription.next())).toMatchObject({ id: mine, status: 'PARTIALLY_REFUNDED', refundedAmount: '0.50' });
    subscription.stop();
  });

  it("sends nothing of another user's payment, nor of none, when a notification names them: any role of the database can send one", async () => {
    const me = await user();
    const other = await user();
    const theirs = await announced(other);
    const subscription = await live(OWN, { token: me.token });
    // PostgreSQL checks no privilege for NOTIFY: another service's role can name any payment and any owner.
    const forge = (id: string) =>
      ownerQuery(
        'payments',
        `SELECT pg_notify('payments_payment_changed', json_build_object('id', $1::text, 'userId', $2::text, 'committedAt', clock_timestamp())::text)`,
        [id, me.userId],
      );
    await forge(theirs);
    await forge(randomUUID());
    const [{ id: mine } = { id: '' }] = await sql<{ id: string }>(
      `INSERT INTO payments.payments (user_id, amount, currency, status, refunded_amount) VALUES ($1, 1, 'EUR', 'SUCCEEDED', 0) RETURNING id`,
      [me.userId],
    );
    expect(paymentOf(await subscription.next()).id).toBe(mine);
    await logs.waitFor((line) => line.msg === 'dropped an event its row does not bear out');
    subscription.stop();
  });

  it('follows one payment for its owner or an admin; anyone else is told NOT_FOUND, as payment(id) tells them', async () => {
    const owner = await user();
    const stranger = await user();
    const id = await announced(owner);
    const refused = socket.subscribe(ONE, { token: stranger.token, variables: { id } });
    expect(await endsWith(refused, 'NOT_FOUND')).toMatchObject({ message: `No payment with id ${id}` });
    const unknown = socket.subscribe(ONE, { token: stranger.token, variables: { id: randomUUID() } });
    await endsWith(unknown, 'NOT_FOUND');

    const byAdmin = await live(ONE, { token: adminToken, variables: { id } });
    const byOwner = await live(ONE, { token: owner.token, variables: { id } });
    await graphql(url, REFUND, { token: adminToken, variables: { input: { paymentId: id, amount: '10.00' }, key: randomUUID() } });
    expect(paymentOf(await byAdmin.next())).toMatchObject({ id, status: 'REFUNDED', refundedAmount: '10.00' });
    expect(paymentOf(await byOwner.next())).toMatchObject({ id, status: 'REFUNDED' });
    byAdmin.stop();
    byOwner.stop();
  });

  it('refuses an anonymous subscriber, a bad token, queries, and text no service can store, each with one result', async () => {
    expect((await endsWith(socket.subscribe(OWN), 'UNAUTHENTICATED')).message).toMatch(/Authentication required/);
    await endsWith(socket.subscribe(OWN, { headers: { authorization: 'Bearer not-a-token' } }), 'UNAUTHENTICATED');
    const { token } = await user();
    const query = await endsWith(socket.subscribe('query { payment(id: "x") { id } }', { token }), 'OPERATION_RESOLUTION_FAILURE');
    expect(query.message).toMatch(/Only subscriptions/);
    await endsWith(socket.subscribe(ONE, { token, variables: { id: 'a\u0000b' } }), 'BAD_USER_INPUT');
    await endsWith(socket.subscribe('subscription { paymentUpdated { nope } }', { token }), 'GRAPHQL_VALIDATION_FAILED');
  });

  describe('ends a subscription its subscriber may no longer hold, within the bound', () => {
    it('when the account is suspended (FORBIDDEN)', async () => {
      const { userId, token } = await user();
      const subscription = await live(OWN, { token });
      await sql(`INSERT INTO payments.account_states (user_id, role, status, version) VALUES ($1, 'USER', 'SUSPENDED', 2)`, [userId]);
      const ended = await endsWith(subscription, 'FORBIDDEN');
      expect(ended.message).toBe('This account is suspended');
      expect(ended.elapsedMs).toBeLessThan(BOUND_MS);
    });

    it('when the sign-in ends (UNAUTHENTICATED), told by auth’s event', async () => {
      const { userId, token, sessionId } = await user();
      const other = await tokens.mint({ userId });
      const subscription = await live(OWN, { token });
      const otherSignIn = await live(OWN, { token: other });
      const now = new Date();
      await auth.client.deliver('payments', {
        eventId: randomUUID(),
        topic: 'session.revoked',
        payload: { userId, familyIds: [sessionId], revokedAt: now.toISOString(), expiresAt: new Date(now.getTime() + 600_000).toISOString() },
        createdAt: now,
      });
      const ended = await endsWith(subscription, 'UNAUTHENTICATED');
      expect(ended.message).toMatch(/sign-in has ended/);
      expect(ended.elapsedMs).toBeLessThan(BOUND_MS);
      // The user's other sign-in goes on.
      const [{ id } = { id: '' }] = await sql<{ id: string }>(
        `INSERT INTO payments.payments (user_id, amount, currency, status, refunded_amount) VALUES ($1, 1, 'EUR', 'SUCCEEDED', 0) RETURNING id`,
        [userId],
      );
      expect(paymentOf(await otherSignIn.next()).id).toBe(id);
      otherSignIn.stop();
    });

    it('when the account is erased (UNAUTHENTICATED), while an admin following its payment sees it anonymised', async () => {
      const { userId, token } = await user();
      const id = await announced({ userId, token });
      const subscription = await live(OWN, { token });
      const watching = await live('subscription ($id: ID) { paymentUpdated(id: $id) { id description } }', { token: adminToken, variables: { id } });
      const erasedAt = new Date().toISOString();
      await admin.client.command('payments', 'eraseUser', {
        userId,
        account: { userId, version: 5, role: 'USER', status: 'ACTIVE', erasedAt },
      });
      const ended = await endsWith(subscription, 'UNAUTHENTICATED');
      expect(ended.message).toBe('This account has been erased');
      expect(ended.elapsedMs).toBeLessThan(BOUND_MS);
      const anonymised = await watching.next();
      expect('next' in anonymised && anonymised.next.data).toEqual({ paymentUpdated: { id, description: null } });
      watching.stop();
    });

    it("when an admin following another user's payment is demoted (FORBIDDEN)", async () => {
      const owner = await user();
      const id = await announced(owner);
      const demotedId = randomUUID();
      const watching = await live(ONE, { token: await tokens.mint({ userId: demotedId, role: 'ADMIN' }), variables: { id } });
      const own = await live(OWN, { token: await tokens.mint({ userId: demotedId, role: 'ADMIN' }) });
      const now = new Date();
      await auth.client.deliver('payments', {
        eventId: randomUUID(),
        topic: 'account.changed',
        payload: { userId: demotedId, version: 2, role: 'USER', status: 'ACTIVE', erasedAt: null },
        createdAt: now,
      });
      const ended = await endsWith(watching, 'FORBIDDEN');
      expect(ended.elapsedMs).toBeLessThan(BOUND_MS);
      // Their own payments are still theirs to follow.
      const [{ id: theirs } = { id: '' }] = await sql<{ id: string }>(
        `INSERT INTO payments.payments (user_id, amount, currency, status, refunded_amount) VALUES ($1, 1, 'EUR', 'SUCCEEDED', 0) RETURNING id`,
        [demotedId],
      );
      expect(paymentOf(await own.next()).id).toBe(theirs);
      own.stop();
    });

    it('when the access token expires (UNAUTHENTICATED), at its expiry', async () => {
      const userId = randomUUID();
      // At least 2 s left (expiry is in whole seconds): time to subscribe on a busy machine before it ends.
      const token = await tokens.mint({ userId, lifetimeSeconds: 3 });
      const expiresAt = (JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as { exp: number }).exp * 1000;
      const subscription = await live(OWN, { token });
      const ended = await endsWith(subscription, 'UNAUTHENTICATED', 6000);
      expect(ended.message).toMatch(/expired/);
      expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);
      expect(Date.now() - expiresAt).toBeLessThan(BOUND_MS);
    });
  });

  describe('with two processes of payments on one database', () => {
    let second: SubgraphServer<'payments'>;
    let secondSocket: SubgraphSocket;
    let secondUrl: string;
    const secondLogs = new LogCapture();

    beforeAll(async () => {
      second = await createPaymentsServer({ config: loadPaymentsConfig({ ...env, PAYMENTS_PORT: '0' }), logDestination: secondLogs });
      secondUrl = await second.listen();
      secondSocket = await subgraphSocket(`${secondUrl}/graphql`);
    });
    afterAll(async () => {
      await secondSocket.close();
      await second.stop();
    });

    it('each delivers every event to its own subscribers, once', async () => {
      const { userId, token } = await user();
      const here = await live(OWN, { token });
      const there = await live(OWN, { token }, secondSocket, secondLogs);
      const insert = async () =>
        (
          await sql<{ id: string }>(
            `INSERT INTO payments.payments (user_id, amount, currency, status, refunded_amount) VALUES ($1, 1, 'EUR', 'SUCCEEDED', 0) RETURNING id`,
            [userId],
          )
        )[0]?.id;
      const first = await insert();
      const next = await insert();
      for (const subscription of [here, there]) {
        expect(paymentOf(await subscription.next()).id).toBe(first);
        expect(paymentOf(await subscription.next()).id).toBe(next);
        subscription.stop();
      }
    });

    it('ends the subscriptions of a process that stops hearing events (SUBGRAPH_UNAVAILABLE), and takes new ones once it hears again', async () => {
      const { userId, token } = await user();
      const subscription = await live(OWN, { token }, secondSocket, secondLogs);
      // Both processes' LISTEN connections, as a database restart would end them.
      await ownerQuery(
        'payments',
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'listen: %payments_account_changed%'`,
      );
      const ended = await endsWith(subscription, 'SUBGRAPH_UNAVAILABLE');
      expect(ended.message).toMatch(/events may have been missed: subscribe again/);
      await pollUntil(
        'listening again',
        async () => /^subgraph_subscriptions_listening\{[^}]*\} 1$/m.test(await (await fetch(`${secondUrl}/metrics`)).text()),
        {
          timeoutMs: 10_000,
        },
      );
      const again = await live(OWN, { token }, secondSocket, secondLogs);
      const [{ id } = { id: '' }] = await sql<{ id: string }>(
        `INSERT INTO payments.payments (user_id, amount, currency, status, refunded_amount) VALUES ($1, 1, 'EUR', 'SUCCEEDED', 0) RETURNING id`,
        [userId],
      );
      expect(paymentOf(await again.next()).id).toBe(id);
      again.stop();
    });

    it('closes its subscription connections first when it stops (1001, so that the gateway goes elsewhere), then its LISTEN connection', async () => {
      const { token } = await user();
      const listeners = async () =>
        (
          await ownerQuery<{ n: number }>(
            'payments',
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'listen: %payments_account_changed%'`,
          )
        )[0]?.n;
      await pollUntil('both processes listening', async () => (await listeners()) === 2, { timeoutMs: 10_000 });
      const subscription = await live(OWN, { token }, secondSocket, secondLogs);
      await second.stop();
      expect(await subscription.next()).toMatchObject({ error: { code: 1001, reason: 'Going away' } });
      await pollUntil('its LISTEN connection gone', async () => (await listeners()) === 1, { timeoutMs: 5000 });
    });
  });
});
