import { randomUUID } from 'node:crypto';
import { setTimeout } from 'node:timers/promises';
import type { QueryEvent } from '@fedstack/shared-db';
import type { SubgraphServer } from '@fedstack/service-kit';
import { ISOLATED_PEERS, graphql, heldTransaction, ownerQuery, testTokens, ownerSql as sql, planOf } from '@fedstack/service-kit/testing';
import { CallerGoneError, forCallerUntil, pollUntil } from '@fedstack/runtime';
import { loadPaymentsConfig } from './config';
import { anonymisePaymentsAhead, erasePayments } from './domain/erasure';
import { simulatedProcessor, type PaymentProcessor } from './domain/processor';
import { createPaymentsServer } from './server';

/** Users as this subgraph knows them: ids, which auth would have issued (nothing here reads auth's data). */
async function newUsers(count: number): Promise<string[]> {
  return Array.from({ length: count }, () => randomUUID());
}

const CREATE = `mutation ($input: CreatePaymentInput!, $key: String!) {
  createPayment(input: $input, idempotencyKey: $key) { id amount currency status description refundedAmount user { id } } }`;
const REFUND = `mutation ($input: RefundPaymentInput!, $key: String!) {
  refundPayment(input: $input, idempotencyKey: $key) { id amount reason } }`;

interface Payment {
  id: string;
  amount: string;
  currency: string;
  status: string;
}

describe('payments subgraph', () => {
  let server: SubgraphServer<'payments'>;
  let url: string;
  let tokens: Awaited<ReturnType<typeof testTokens>>;
  let adminToken: string;
  const statements: QueryEvent[] = [];

  beforeAll(async () => {
    tokens = await testTokens();
    // The recovery worker polls on the same pool, and its statements would be counted with a request's.
    const config = loadPaymentsConfig({
      ...process.env,
      ...tokens.env,
      ...ISOLATED_PEERS,
      PAYMENTS_PORT: '0',
      LOG_LEVEL: 'silent',
      DB_POOL_SIZE: '10',
      PAYMENTS_RECOVERY_POLL_MS: '3600000',
    });
    server = await createPaymentsServer({ config, onQuery: (event) => statements.push(event) });
    url = `${await server.listen()}/graphql`;
    const [adminId] = (await newUsers(1)) as [string];
    adminToken = await tokens.mint({ userId: adminId, role: 'ADMIN' });
  });
  afterAll(() => server.stop());

  async function pay(token: string, input: Record<string, unknown>, key = `key-${Math.random()}`) {
    return graphql<{ createPayment: Payment }>(url, CREATE, { token, variables: { input, key } });
  }

  describe('createPayment', () => {
    it("charges and answers with exact decimal strings in the currency's own precision", async () => {
      const [userId] = (await newUsers(1)) as [string];
      const token = await tokens.mint({ userId });
      const usd = await pay(token, { amount: '12.5', currency: 'usd', description: 'Lunch', paymentMethodToken: 'tok_visa' });
      expect(usd.errors).toBeUndefined();
      expect(usd.data?.createPayment).toMatchObject({ amount: '12.50', currency: 'USD', status: 'SUCCEEDED', refundedAmount: '0.00', user: { id: userId } });
      const kwd = await pay(token, { amount: '0.125', currency: 'KWD', paymentMethodToken: 'tok_visa' });
      expect(kwd.data?.createPayment.amount).toBe('0.125');
      const jpy = await pay(token, { amount: '5000', currency: 'JPY', paymentMethodToken: 'tok_visa' });
      expect(jpy.data?.createPayment.amount).toBe('5000');
      // ISO 4217's decimals, where ICU's display rounding gave HUF none ("HUF amounts have at most 0 decimal places").
      const huf = await pay(token, { amount: '100.5', currency: 'HUF', paymentMethodToken: 'tok_visa' });
      expect({ errors: huf.errors, amount: huf.data?.createPayment.amount }).toEqual({ errors: undefined, amount: '100.50' });
      const [stored] = await sql<{ amount: string }>('SELECT amount::text FROM payments.payments WHERE id = $1', [kwd.data?.createPayment.id]);
      expect(stored?.amount).toBe('0.1250');
    });

    it('turns 50 concurrent calls with one key into one payment and fifty identical answers', async () => {
      const [userId] = (await newUsers(1)) as [string];
      const token = await tokens.mint({ userId });
      const input = { amount: '42.00', currency: 'EUR', description: 'Concurrent', paymentMethodToken: 'tok_visa' };
      const answers = await Promise.all(Array.from({ length: 50 }, () => pay(token, input, 'one-key')));
      expect(answers.every((answer) => !answer.errors)).toBe(true);
      const bodies = new Set(answers.map((answer) => JSON.stringify(answer.data)));
      expect(bodies.size).toBe(1);
      expect(await sql('SELECT id FROM payments.payments WHERE user_id = $1', [userId])).toHaveLength(1);

      const reused = await pay(token, { ...input, amount: '43.00' }, 'one-key');
      expect(reused.errors?.[0]?.extensions).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', field: 'idempotencyKey' });
      expect(await sql('SELECT id FROM payments.payments WHERE user_id = $1', [userId])).toHaveLength(1);

      const sameAmountWritten = await pay(token, { ...input, amount: '42' }, 'one-key');
      expect(sameAmountWritten.data).toEqual(answers[0]?.data);
    });

    it('quotes a value it refuses without cutting an emoji in half (a lone surrogate in the answer: text strict JSON decoders reject)', async () => {
      const [userId] = (await newUsers(1)) as [string];
      const token = await tokens.mint({ userId });
      const input = { amount: '1.00', currency: 'EUR', paymentMethodToken: 'tok_visa' };
      const key = `${'k'.repeat(63)}😀 and more`;
      expect((await pay(token, input, key)).errors).toBeUndefined();
      const answers = [await pay(token, { ...input, amount: '2.00' }, key), await pay(token, { ...input, currency: `${'a'.repeat(9)}😀` })];
      const messages = answers.map((answer) => answer.errors?.[0]?.message ?? '');
      expect(messages.map((message) => /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(message))).toEqual([false, false]);
      expect(messages[0]).toContain(`"${'k'.repeat(63)}😀…"`);
      expect(messages[1]).toContain(`(got "${'a'.repeat(9)}😀")`);
    });

    it('scopes keys per user: another user may use the same key', async () => {
      const [a, b] = (await newUsers(2)) as [string, string];
      const input = { amount: '1.00', currency: 'EUR', paymentMethodToken: 'tok_visa' };
      const first = await pay(await tokens.mint({ userId: a }), input, 'shared-key');
      const second = await pay(await tokens.mint({ userId: b }), input, 'shared-key');
      expect(first.data?.createPayment.id).not.toBe(second.data?.createPayment.id);
    });

    it('records a declined card as FAILED, answers PAYMENT_DECLINED, and replays that answer for the same key', async () => {
      const [userId] = (await newUsers(1)) as [string];
      const token = await tokens.mint({ userId });
      const input = { amount: '9.99', currency: 'GBP', paymentMethodToken: 'tok_insufficient_funds' };
      const first = await pay(token, input, 'declined-key');
      expect(first.errors?.[0]?.extensions).toMatchObject({ code: 'PAYMENT_DECLINED', declineCode: 'insufficient_funds' });
      const retry = await pay(token, input, 'declined-key');
      expect(retry.errors).toEqual(first.errors);
      const rows = await sql<{ status: string; decline_code: string }>('SELECT status, decline_code FROM payments.payments WHERE user_id = $1', [userId]);
      expect(rows).toEqual([{ status: 'FAILED', decline_code: 'insufficient_funds' }]);
    });

    it("records a decline on its key through the user's own records, not a scan of every user's", async () => {
      const [userId] = (await newUsers(1)) as [string];
      statements.length = 0;
      const declined = await pay(await tokens.mint({ userId }), { amount: '3.00', currency: 'EUR', paymentMethodToken: 'tok_decline' });
      const settle = statements.find((event) => event.sql.includes('UPDATE payments.idempotency_records')) as QueryEvent;
      const paymentId = declined.errors?.[0]?.extensions?.paymentId as string;
      const plan = await planOf('payments', settle.sql, [paymentId, 'FAILED', null, 'generic_decline', 'PAYMENT_DECLINED']);
      expect(plan).not.toMatch(/Seq Scan on idempotency_records/);
      expect(plan).toMatch(/idempotency_records_user_id_operation_key_key/);
      // And the key still answers the decline on a retry: the code is recorded.
      expect(await sql('SELECT error_code FROM payments.idempotency_records WHERE payment_id = $1', [paymentId])).toEqual([{ error_code: 'PAYMENT_DECLINED' }]);
    });

    it.each([
      ['JPY with decimals', { amount: '100.5', currency: 'JPY' }, 'input.amount'],
      ['a negative amount', { amount: '-5.00', currency: 'EUR' }, 'input.amount'],
      ['zero', { amount: '0', currency: 'EUR' }, 'input.amount'],
      ['NaN', { amount: 'NaN', currency: 'EUR' }, 'input.amount'],
      ['1e400', { amount: '1e400', currency: 'EUR' }, 'input.amount'],
      ['an amount over the limit', { amount: '1000000.01', currency: 'EUR' }, 'input.amount'],
      ['more decimals than EUR has', { amount: '1.001', currency: 'EUR' }, 'input.amount'],
      ['an unknown currency', { amount: '1.00', currency: 'XYZ' }, 'input.currency'],
      ['a 10,000-character description', { amount: '1.00', currency: 'EUR', description: 'd'.repeat(10_000) }, 'input.description'],
      ['a malformed card token', { amount: '1.00', currency: 'EUR', paymentMethodToken: 'card 4242' }, 'input.paymentMethodToken'],
    ])('refuses %s with BAD_USER_INPUT naming the field, writing nothing', async (_label, input, field) => {
      const [userId] = (await newUsers(1)) as [string];
      const result = await pay(await tokens.mint({ userId }), { paymentMethodToken: 'tok_visa', ...input });
      expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
      expect(await sql('SELECT 1 FROM payments.payments WHERE user_id = $1', [userId])).toHaveLength(0);
      expect(await sql('SELECT 1 FROM payments.idempotency_records WHERE user_id = $1', [userId])).toHaveLength(0);
    });

    it('refuses text over the limits the schema states, naming them, and counts a key in characters, not UTF-16 units', async () => {
      const [userId] = (await newUsers(1)) as [string];
      const token = await tokens.mint({ userId });
      const input = { amount: '1.00', currency: 'EUR', paymentMethodToken: 'tok_visa' };
      // Past the default limit of any text (1,000), the refusal named that, not the schema's.
      const refusals = [
        await pay(token, { ...input, description: 'd'.repeat(1001) }),
        await pay(token, input, 'k'.repeat(1001)),
        // A card number typed where the token goes: refused by the rule, the number not shown back.
        await pay(token, { ...input, paymentMethodToken: 'tok_4242-4242' }),
      ].map((result) => [result.errors?.[0]?.extensions?.field, result.errors?.[0]?.message]);
      expect(refusals).toEqual([
        ['input.description', expect.stringContaining('must be at most 500 characters (got 1001)')],
        ['idempotencyKey', expect.stringContaining('must be at most 255 characters (got 1001)')],
        ['input.paymentMethodToken', expect.stringContaining('"tok_" then 1 to 64 letters, digits or underscores')],
      ]);
      expect(refusals[2]![1]).not.toContain('4242');
      const emoji = await pay(token, input, '💳'.repeat(128));
      expect(emoji.errors).toBeUndefined();
      expect(emoji.data?.createPayment.status).toBe('SUCCEEDED');
    });

    it('refuses an amount sent as a JSON number, which has already lost precision', async () => {
      const [userId] = (await newUsers(1)) as [string];
      const result = await pay(await tokens.mint({ userId }), { amount: 0.1, currency: 'EUR', paymentMethodToken: 'tok_visa' });
      expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.amount' });
      expect(result.errors?.[0]?.message).toMatch(/strings/);
    });
  });

  it('records no payment for a user it has erased, even when the token got past the account check', async () => {
    const [userId] = (await newUsers(1)) as [string];
    await sql(`INSERT INTO payments.erasures (user_id, erased_at, changes) VALUES ($1, now(), '[]')`, [userId]);
    const result = await pay(await tokens.mint({ userId }), { amount: '5.00', currency: 'EUR', paymentMethodToken: 'tok_visa' });
    expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(await sql('SELECT 1 FROM payments.payments WHERE user_id = $1', [userId])).toEqual([]);
  });

  describe('refundPayment', () => {
    async function paymentOf(amount: string, currency = 'EUR'): Promise<{ userId: string; payment: Payment }> {
      const [userId] = (await newUsers(1)) as [string];
      const created = await pay(await tokens.mint({ userId }), { amount, currency, paymentMethodToken: 'tok_visa' });
      return { userId, payment: created.data?.createPayment as Payment };
    }

    it("never lets 20 racing partial refunds exceed the amount, and writes each accepted one's audit entry exactly once", async () => {
      const { payment } = await paymentOf('100.00');
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, index) =>
          graphql<{ refundPayment: { id: string } }>(url, REFUND, {
            token: adminToken,
            variables: { input: { paymentId: payment.id, amount: '7.00', reason: `race ${index}` }, key: `race-${payment.id}-${index}` },
          }),
        ),
      );
      const accepted = results.filter((result) => !result.errors);
      const refused = results.filter((result) => result.errors);
      expect(accepted).toHaveLength(14);
      for (const result of refused) expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.amount' });
      // What is left, in the currency's format (it said "at most 2").
      expect(refused.map((result) => result.errors?.[0]?.message)).toContain('input.amount: must be at most 2.00 (got "7.00")');
      const [state] = await sql<{ refunded: string; status: string; refunds: string }>(
        `SELECT refunded_amount::text AS refunded, status::text AS status,
                (SELECT sum(amount)::text FROM payments.refunds WHERE payment_id = p.id) AS refunds
         FROM payments.payments p WHERE id = $1`,
        [payment.id],
      );
      expect(state).toEqual({ refunded: '98.0000', status: 'PARTIALLY_REFUNDED', refunds: '98.0000' });
      // Into the outbox, with the refund, for admin's trail (no admin runs here to take delivery).
      const audits = await sql<{ refund_id: string }>(
        `SELECT payload->'payload'->>'refundId' AS refund_id FROM payments.outbox
         WHERE topic = 'audit.record' AND destination = 'admin' AND payload->>'action' = 'payment.refund' AND payload->>'targetId' = $1`,
        [payment.id],
      );
      expect(audits.map((row) => row.refund_id).sort()).toEqual(accepted.map((result) => result.data?.refundPayment.id).sort());
    });

    it('moves SUCCEEDED → PARTIALLY_REFUNDED → REFUNDED and then refuses more', async () => {
      const { payment } = await paymentOf('30.00');
      const refund = (amount: string, key: string) => graphql(url, REFUND, { token: adminToken, variables: { input: { paymentId: payment.id, amount }, key } });
      expect((await refund('10.00', `${payment.id}-1`)).errors).toBeUndefined();
      expect((await sql<{ status: string }>('SELECT status FROM payments.payments WHERE id = $1', [payment.id]))[0]?.status).toBe('PARTIALLY_REFUNDED');
      expect((await refund('20', `${payment.id}-2`)).errors).toBeUndefined();
      expect((await sql<{ status: string }>('SELECT status FROM payments.payments WHERE id = $1', [payment.id]))[0]?.status).toBe('REFUNDED');
      expect((await refund('0.01', `${payment.id}-3`)).errors?.[0]?.extensions?.code).toBe('CONFLICT');
      // The audit trail writes amounts as the API does, in the currency's format (it wrote "20" and "0").
      const trail = await sql<{ payload: Record<string, unknown> }>(
        `SELECT payload->'payload' AS payload FROM payments.outbox
         WHERE topic = 'audit.record' AND payload->>'action' = 'payment.refund' AND payload->>'targetId' = $1 ORDER BY (payload->'payload'->'after'->>'refundedAmount')::numeric`,
        [payment.id],
      );
      expect(trail.map(({ payload }) => payload)).toEqual([
        expect.objectContaining({
          amount: '10.00',
          before: { status: 'SUCCEEDED', refundedAmount: '0.00' },
          after: { status: 'PARTIALLY_REFUNDED', refundedAmount: '10.00' },
        }),
        expect.objectContaining({
          amount: '20.00',
          before: { status: 'PARTIALLY_REFUNDED', refundedAmount: '10.00' },
          after: { status: 'REFUNDED', refundedAmount: '30.00' },
        }),
      ]);
    });

    it('replays a refund for the same key instead of refunding twice', async () => {
      const { payment } = await paymentOf('10.00');
      const variables = { input: { paymentId: payment.id, amount: '4.00', reason: 'retry me' }, key: `replay-${payment.id}` };
      const first = await graphql(url, REFUND, { token: adminToken, variables });
      const second = await graphql(url, REFUND, { token: adminToken, variables });
      expect(second.data).toEqual(first.data);
      expect(await sql('SELECT 1 FROM payments.refunds WHERE payment_id = $1', [payment.id])).toHaveLength(1);
    });

    it("keeps no reason on a refund of an erased user's payment, also when the refund waited on the erasure", async () => {
      const { userId, payment: during } = await paymentOf('10.00');
      const after = (await pay(await tokens.mint({ userId }), { amount: '20.00', currency: 'EUR', paymentMethodToken: 'tok_visa' })).data
        ?.createPayment as Payment;
      const refund = (paymentId: string, key: string) =>
        graphql<{ refundPayment: { amount: string; reason: string | null } }>(url, REFUND, {
          token: adminToken,
          variables: { input: { paymentId, amount: '1.00', reason: 'what the admin wrote about the user' }, key },
        });
      // The erasure's first step holds the user's payments while a refund of one of them waits.
      const erasing = await heldTransaction(
        'payments',
        'UPDATE payments.payments SET description = NULL, method_last4 = NULL, anonymised_at = now(), updated_at = now() WHERE user_id = $1::uuid',
        [userId],
      );
      const waiting = refund(during.id, `erased-${during.id}`);
      try {
        const blocked = `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`;
        await pollUntil('the refund waits for the erasure', async () => ((await ownerQuery<{ n: number }>('payments', blocked))[0]?.n ?? 0) >= 1, {
          timeoutMs: 20_000,
        });
      } finally {
        await erasing.commit();
      }
      await server.db.$transaction((tx) => erasePayments(tx, userId));
      const answers = [await waiting, await refund(after.id, `erased-${after.id}`)];
      for (const answer of answers) expect(answer.data?.refundPayment).toMatchObject({ amount: '1.00', reason: null });
      const reasons = await sql<{ reason: string | null }>('SELECT reason FROM payments.refunds WHERE payment_id = ANY($1::uuid[])', [[during.id, after.id]]);
      expect(reasons).toEqual([{ reason: null }, { reason: null }]);
    });

    it('refuses refunds of failed payments and of unknown ones', async () => {
      const [userId] = (await newUsers(1)) as [string];
      const declined = await pay(await tokens.mint({ userId }), { amount: '5.00', currency: 'EUR', paymentMethodToken: 'tok_decline' });
      const paymentId = declined.errors?.[0]?.extensions?.paymentId as string;
      const failed = await graphql(url, REFUND, { token: adminToken, variables: { input: { paymentId, amount: '1.00' }, key: `f-${paymentId}` } });
      expect(failed.errors?.[0]?.extensions?.code).toBe('CONFLICT');
      const unknown = await graphql(url, REFUND, {
        token: adminToken,
        variables: { input: { paymentId: '00000000-0000-4000-8000-00000000dead', amount: '1.00' }, key: 'unknown-payment' },
      });
      expect(unknown.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    });
  });

  describe('erasure', () => {
    it("anonymises a user's many payments in batches that each commit: an attempt cut short at its caller's deadline keeps what it did, and the next finishes", async () => {
      const [userId] = (await newUsers(1)) as [string];
      await sql(
        `INSERT INTO payments.payments (user_id, amount, currency, status, description, method_last4)
         SELECT $1::uuid, 1, 'EUR', 'SUCCEEDED', 'rent ' || g, '4242' FROM generate_series(1, 25) g`,
        [userId],
      );
      const described = async () =>
        (await sql<{ n: number }>('SELECT count(*)::int AS n FROM payments.payments WHERE user_id = $1 AND description IS NOT NULL', [userId]))[0]?.n;
      // The caller's wait runs out during the first batch, as during one that takes long.
      let batches = 0;
      const counted = { $executeRawUnsafe: (query: string, ...values: unknown[]) => ((batches += 1), server.db.$executeRawUnsafe(query, ...values)) };
      const realNow = Date.now.bind(Date);
      const clock = jest.spyOn(Date, 'now').mockImplementation(() => realNow() + (batches > 0 ? 120_000 : 0));
      try {
        await expect(forCallerUntil(realNow() + 60_000, () => anonymisePaymentsAhead(counted, userId, 10))).rejects.toThrow(CallerGoneError);
      } finally {
        clock.mockRestore();
      }
      expect(await described()).toBe(15);
      await anonymisePaymentsAhead(server.db, userId, 10);
      expect(await described()).toBe(0);
      // The erasure's transaction reports every payment of the user's as anonymised, those done ahead too.
      expect((await server.db.$transaction((tx) => erasePayments(tx, userId)))[0]).toEqual({ table: 'payments', action: 'anonymised', rows: 25 });
    });
  });

  describe('visibility', () => {
    it("hides another user's payment (null) and refuses non-admin refunds (FORBIDDEN)", async () => {
      const [owner, other] = (await newUsers(2)) as [string, string];
      const created = await pay(await tokens.mint({ userId: owner }), { amount: '3.00', currency: 'EUR', paymentMethodToken: 'tok_visa' });
      const id = created.data?.createPayment.id as string;
      const query = 'query ($id: ID!) { payment(id: $id) { id amount } }';
      const otherToken = await tokens.mint({ userId: other });
      expect((await graphql(url, query, { token: otherToken, variables: { id } })).data).toEqual({ payment: null });
      expect((await graphql(url, query, { token: adminToken, variables: { id } })).data).toEqual({ payment: { id, amount: '3.00' } });
      const ownerView = await graphql(url, query, { token: await tokens.mint({ userId: owner }), variables: { id } });
      expect(ownerView.data).toEqual({ payment: { id, amount: '3.00' } });
      // A UUID in upper case is the same id (it was null, though a refund naming it went through).
      const shouted = await graphql(url, query, { token: await tokens.mint({ userId: owner }), variables: { id: id.toUpperCase() } });
      expect(shouted.data).toEqual({ payment: { id, amount: '3.00' } });
      const refund = await graphql(url, REFUND, { token: otherToken, variables: { input: { paymentId: id, amount: '1.00' }, key: 'not-mine' } });
      expect(refund.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      // An admin token whose user auth has since demoted (as payments' view of accounts says) refunds nothing either.
      await sql(`INSERT INTO payments.account_states (user_id, role, status, version) VALUES ($1, 'USER', 'ACTIVE', 2)`, [other]);
      const demoted = await graphql(url, REFUND, {
        token: await tokens.mint({ userId: other, role: 'ADMIN' }),
        variables: { input: { paymentId: id, amount: '1.00' }, key: 'demoted' },
      });
      expect(demoted.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      expect(await sql('SELECT 1 FROM payments.refunds WHERE payment_id = $1', [id])).toHaveLength(0);
      const listed = await graphql(url, 'query ($r: [_Any!]!) { _entities(representations: $r) { ... on User { payments { edges { node { id } } } } } }', {
        token: otherToken,
        variables: { r: [{ __typename: 'User', id: owner }] },
      });
      expect(listed.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    });
  });

  describe('lists and totals', () => {
    it("pages a user's payments newest first and sums succeeded minus refunded per currency", async () => {
      const [userId] = (await newUsers(1)) as [string];
      const token = await tokens.mint({ userId });
      for (const [amount, currency] of [
        ['10.00', 'EUR'],
        ['5.50', 'EUR'],
        ['700', 'JPY'],
        ['1.00', 'USD'],
      ] as const) {
        await pay(token, { amount, currency, paymentMethodToken: 'tok_visa' });
      }
      await pay(token, { amount: '99.00', currency: 'USD', paymentMethodToken: 'tok_decline' });
      const eur = (await sql<{ id: string }>(`SELECT id FROM payments.payments WHERE user_id = $1 AND amount = 10`, [userId]))[0]?.id;
      await graphql(url, REFUND, { token: adminToken, variables: { input: { paymentId: eur, amount: '2.25' }, key: `t-${eur}` } });

      const query = `query ($r: [_Any!]!, $after: String) { _entities(representations: $r) { ... on User {
        payments(first: 2, after: $after) { edges { node { amount currency status } } pageInfo { hasNextPage endCursor } }
        paymentTotals { currency amount } } } }`;
      type Answer = {
        _entities: { payments: { edges: { node: Payment }[]; pageInfo: { hasNextPage: boolean; endCursor: string } }; paymentTotals: unknown[] }[];
      };
      const first = await graphql<Answer>(url, query, { token, variables: { r: [{ __typename: 'User', id: userId }] } });
      const user = first.data?._entities[0];
      expect(user?.payments.edges.map((edge) => edge.node.amount)).toEqual(['99.00', '1.00']);
      expect(user?.payments.pageInfo.hasNextPage).toBe(true);
      expect(user?.paymentTotals).toEqual([
        { currency: 'EUR', amount: '13.25' },
        { currency: 'JPY', amount: '700' },
        { currency: 'USD', amount: '1.00' },
      ]);
      const second = await graphql<Answer>(url, query, {
        token,
        variables: { r: [{ __typename: 'User', id: userId }], after: user?.payments.pageInfo.endCursor },
      });
      expect(second.data?._entities[0]?.payments.edges.map((edge) => edge.node.amount)).toEqual(['700', '5.50']);
      // first: 0 gives no payments and says that some follow (it said none did).
      const none = await graphql<Answer>(url, query.replace('first: 2', 'first: 0'), { token, variables: { r: [{ __typename: 'User', id: userId }] } });
      expect(none.data?._entities[0]?.payments).toEqual({ edges: [], pageInfo: { hasNextPage: true, endCursor: null } });
    });

    it("never slips a payment into a page a client has read: a user's payments are listed in the order they commit", async () => {
      const [userId] = (await newUsers(1)) as [string];
      const token = await tokens.mint({ userId });
      const input = { amount: '1.00', currency: 'EUR', paymentMethodToken: 'tok_visa' };
      const ids = async (first: number) => {
        const query = `query ($r: [_Any!]!) { _entities(representations: $r) { ... on User { payments(first: ${first}) { edges { node { id } } } } } }`;
        const answer = await graphql<{ _entities: { payments: { edges: { node: { id: string } }[] } }[] }>(url, query, {
          token,
          variables: { r: [{ __typename: 'User', id: userId }] },
        });
        return answer.data?._entities[0]?.payments.edges.map((edge) => edge.node.id) ?? [];
      };
      await pay(token, input);
      // A creation held inside its transaction: its key's claim waits for a claim of the same key this test holds open.
      const key = `held-${randomUUID()}`;
      const holding = await heldTransaction(
        'payments',
        `INSERT INTO payments.idempotency_records (user_id, operation, key, request_hash, payment_id) VALUES ($1::uuid, 'createPayment', $2, 'held', $3::uuid)`,
        [userId, key, randomUUID()],
      );
      const waiting = async () =>
        (
          await ownerQuery<{ n: number }>(
            'payments',
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
          )
        )[0]?.n ?? 0;
      let held: ReturnType<typeof pay> | undefined;
      let next: ReturnType<typeof pay> | undefined;
      let page: string[];
      try {
        held = pay(token, input, key);
        await pollUntil('the first creation waits', async () => (await waiting()) >= 1 || undefined, { timeoutMs: 20_000 });
        // Another meanwhile: it waits for the first now; it committed before, stamped newer than the first would be.
        let settled = false;
        next = pay(token, input).finally(() => (settled = true));
        await pollUntil('the second creation waits or is done', async () => settled || (await waiting()) >= 2 || undefined, { timeoutMs: 20_000 });
        page = await ids(2);
      } finally {
        await holding.release();
      }
      expect((await held).errors).toBeUndefined();
      expect((await next).errors).toBeUndefined();
      // Whatever came after the page sorts before it (newer), never among its payments.
      const all = await ids(10);
      expect(all).toHaveLength(3);
      const [newest, oldest] = [page[0] as string, page[page.length - 1] as string];
      expect(all.slice(all.indexOf(newest), all.indexOf(oldest) + 1)).toEqual(page);
    });

    it('loads payments(first: 5) with refunds, and totals, for 100 users in at most two statements each (after the account check)', async () => {
      const ids = await newUsers(100);
      await sql(
        `INSERT INTO payments.payments (user_id, amount, currency, status, refunded_amount, created_at)
         SELECT u, (10 + g)::numeric, 'EUR', 'SUCCEEDED', 0, now() - g * interval '1 minute'
         FROM unnest($1::uuid[]) u, generate_series(1, 7) g`,
        [ids],
      );
      const representations = ids.map((id) => ({ __typename: 'User', id }));
      statements.length = 0;
      const result = await graphql<{ _entities: { payments: { edges: { node: { amount: string; refunds: unknown[] } }[] } }[] }>(
        url,
        'query ($r: [_Any!]!) { _entities(representations: $r) { ... on User { payments(first: 5) { edges { node { amount refunds { amount } } } } } } }',
        { token: adminToken, variables: { r: representations } },
      );
      expect(result.errors).toBeUndefined();
      expect(result.data?._entities.every((user) => user.payments.edges.length === 5)).toBe(true);
      expect(result.data?._entities[0]?.payments.edges[0]?.node.amount).toBe('11.00');
      const checks = (list: QueryEvent[]) => list.filter((statement) => /account_states/.test(statement.sql));
      expect(checks(statements)).toHaveLength(1);
      expect(statements.length - 1).toBeLessThanOrEqual(2);

      statements.length = 0;
      await graphql(url, 'query ($r: [_Any!]!) { _entities(representations: $r) { ... on User { paymentTotals { amount } } } }', {
        token: adminToken,
        variables: { r: representations },
      });
      expect(checks(statements)).toHaveLength(1);
      expect(statements).toHaveLength(2);
    });

    it('labels its database timings schema="payments" in /metrics', async () => {
      const metrics = await (await fetch(url.replace('/graphql', '/metrics'))).text();
      expect(metrics).toMatch(/db_query_duration_seconds_count\{[^}]*schema="payments"[^}]*\} [1-9]/);
    });
  });

  describe('the recovery worker', () => {
    /** A payments server whose recovery worker charges through `processor`, quickly, and a PENDING payment (with its token) a crash left for it. */
    async function recoveryOf(processor: PaymentProcessor, settings: NodeJS.ProcessEnv) {
      const config = loadPaymentsConfig({
        ...process.env,
        ...tokens.env,
        ...ISOLATED_PEERS,
        PAYMENTS_RECOVERY_AFTER_MS: '0',
        PAYMENTS_RECOVERY_POLL_MS: '20',
        PAYMENTS_RECOVERY_MAX_BACKOFF_MS: '40',
        ...settings,
        PAYMENTS_PORT: '0',
        LOG_LEVEL: 'silent',
      });
      const [userId] = (await newUsers(1)) as [string];
      const [{ id }] = (await sql<{ id: string }>(
        `INSERT INTO payments.payments (id, user_id, amount, currency, status, pending_token, method_last4)
         VALUES (gen_random_uuid(), $1, 12.5, 'EUR', 'PENDING', 'tok_visa', 'visa') RETURNING id`,
        [userId],
      )) as [{ id: string }];
      const server = await createPaymentsServer({ config, processor });
      const url = await server.listen();
      const row = async () =>
        (await sql<{ status: string; attempts: number }>(`SELECT status::text, charge_attempts AS attempts FROM payments.payments WHERE id = $1`, [id]))[0];
      return { id, server, url, row };
    }

    /** A processor that holds its first `slow` charges for `holdMs` (until told to give up, unless `deaf`), and counts them. */
    function slowProcessor(slow: number, holdMs: number, deaf = false) {
      const seen = { charges: 0, inFlight: 0, mostInFlight: 0, givenUp: 0 };
      const processor: PaymentProcessor = {
        async charge(request) {
          seen.charges += 1;
          seen.inFlight += 1;
          seen.mostInFlight = Math.max(seen.mostInFlight, seen.inFlight);
          try {
            if (seen.charges <= slow) await setTimeout(holdMs, undefined, deaf ? {} : { signal: request.signal });
            return simulatedProcessor().charge(request);
          } catch (error) {
            seen.givenUp += 1;
            throw error;
          } finally {
            seen.inFlight -= 1;
          }
        },
      };
      return { processor, seen };
    }

    it('gives up a charge that outlasts PAYMENTS_PROCESSOR_TIMEOUT_MS and tries again later, one charge of a payment at a time', async () => {
      const { processor, seen } = slowProcessor(2, 60_000);
      const { server, row } = await recoveryOf(processor, { PAYMENTS_PROCESSOR_TIMEOUT_MS: '300' });
      try {
        expect(await pollUntil('settled', async () => ((await row())?.status === 'SUCCEEDED' ? row() : undefined), { timeoutMs: 20_000 })).toEqual({
          status: 'SUCCEEDED',
          attempts: 3,
        });
        expect(seen).toEqual({ charges: 3, inFlight: 0, mostInFlight: 1, givenUp: 2 });
      } finally {
        await server.stop();
      }
    });

    it('does not claim again a payment whose charge it still holds, though its processor ignores the time limit', async () => {
      const { processor, seen } = slowProcessor(1, 1500, true);
      const { server, row } = await recoveryOf(processor, { PAYMENTS_PROCESSOR_TIMEOUT_MS: '100' });
      try {
        await pollUntil('settled', async () => ((await row())?.status === 'SUCCEEDED' ? true : undefined), { timeoutMs: 20_000 });
        expect({ charges: seen.charges, mostInFlight: seen.mostInFlight, attempts: (await row())?.attempts }).toEqual({
          charges: 1,
          mostInFlight: 1,
          attempts: 1,
        });
      } finally {
        await server.stop();
      }
    });

    it('parks a payment it cannot finish after PAYMENTS_RECOVERY_MAX_ATTEMPTS, says why and counts it, and leaves it PENDING', async () => {
      const unreachable: PaymentProcessor = {
        charge: async () => {
          throw new Error('processor unreachable');
        },
      };
      // What a crash between recording and settling leaves: a PENDING payment with its token.
      const { id, server: recovering, url: recoveringUrl } = await recoveryOf(unreachable, { PAYMENTS_RECOVERY_MAX_ATTEMPTS: '3' });
      try {
        const parked = await pollUntil(
          'parked',
          async () =>
            (
              await sql<{ status: string; attempts: number; parked: boolean; error: string }>(
                `SELECT status::text, charge_attempts AS attempts, charge_parked_at IS NOT NULL AS parked, charge_error AS error FROM payments.payments WHERE id = $1`,
                [id],
              )
            ).find((row) => row.parked),
          { timeoutMs: 20_000 },
        );
        expect(parked).toEqual({ status: 'PENDING', attempts: 3, parked: true, error: 'processor unreachable' });
        const metrics = await (await fetch(`${recoveringUrl}/metrics`)).text();
        expect(metrics).toMatch(/background_jobs_total\{worker="payment-recovery",outcome="parked"[^}]*\} 1\n/);
        expect(metrics).toMatch(/background_jobs\{worker="payment-recovery",state="parked"[^}]*\} [1-9]/);
      } finally {
        await recovering.stop();
      }
    });
  });
});
