import { randomBytes } from 'node:crypto';
import { SERVICES } from '@fedstack/runtime';
import { graphql } from '@fedstack/service-kit/testing';
import { ownerQuery, ownerSql } from '@fedstack/shared-db/testing';
import { ERASE, PASSWORD, SUSPEND, administer, auditTrailOf, demoAdmin, freshEmail, pay, register, within, type SignedIn } from './clients';
import { startStack, type RunningStack } from './stack';

/**
 * Erasure, through the gateway with every service running: it reaches every service that holds the
 * user's data, keeps what accounting needs, and is audited once.
 */
describe('erasure across services', () => {
  let stack: RunningStack;
  let admin: SignedIn;

  beforeAll(async () => {
    stack = await startStack();
    admin = await demoAdmin(stack.gatewayUrl);
  });
  afterAll(() => stack.stop());

  const trailOf = (userId: string) => auditTrailOf(stack.gatewayUrl, admin, userId);

  it('erases a user in every service, keeps payment sums, reports what it did, and a second call is harmless', async () => {
    const user = await register(stack.gatewayUrl);
    await graphql(stack.gatewayUrl, 'mutation { updateMyProfile(input: { displayName: "Erin Erasable", bio: "Lives at 1 Main St" }) { bio } }', {
      token: user.accessToken,
    });
    const paid = await pay(stack.gatewayUrl, user, '10.50', `gift-${user.id}`);
    const books = await graphql(
      stack.gatewayUrl,
      'mutation ($key: String!) { createPayment(input: { amount: "3000", currency: "JPY", description: "Books", paymentMethodToken: "tok_1881" }, idempotencyKey: $key) { id } }',
      { token: user.accessToken, variables: { key: `books-${user.id}` } },
    );
    expect([paid.errors, books.errors]).toEqual([undefined, undefined]);
    // The user's sums: other suites may be paying in the same database meanwhile.
    const totals = `SELECT currency, sum(amount)::text AS total FROM payments.payments WHERE user_id = $1 GROUP BY currency ORDER BY currency`;
    const before = await ownerSql(totals, [user.id]);

    const result = await graphql<{ eraseUser: { alreadyErased: boolean; erasedAt: string; changes: unknown[] } }>(stack.gatewayUrl, ERASE, {
      token: admin.accessToken,
      variables: { id: user.id },
    });
    expect(result.errors).toBeUndefined();
    expect(result.data?.eraseUser.alreadyErased).toBe(false);
    expect(result.data?.eraseUser.changes).toEqual([
      { schema: 'auth', table: 'password_credentials', action: 'deleted', rows: 1 },
      { schema: 'auth', table: 'sessions', action: 'deleted', rows: 1 },
      { schema: 'auth', table: 'rate_limits', action: 'deleted', rows: 0 },
      { schema: 'auth', table: 'users', action: 'tombstoned', rows: 1 },
      { schema: 'profile', table: 'profiles', action: 'deleted', rows: 1 },
      { schema: 'payments', table: 'payments', action: 'anonymised', rows: 2 },
      { schema: 'payments', table: 'refunds', action: 'anonymised', rows: 0 },
      { schema: 'payments', table: 'idempotency_records', action: 'anonymised', rows: 0 },
      { schema: 'payments', table: 'idempotency_records', action: 'deleted', rows: 2 },
      { schema: 'admin', table: 'audit_details', action: 'deleted', rows: 0 },
    ]);

    // Each service, checked for anything that still names or describes the person.
    expect(await ownerSql('SELECT email, erased_at IS NOT NULL AS erased FROM auth.users WHERE id = $1', [user.id])).toEqual([
      { email: `erased+${user.id}@erased.invalid`, erased: true },
    ]);
    for (const table of ['auth.password_credentials', 'auth.sessions']) {
      expect({ table, rows: await ownerSql(`SELECT 1 FROM ${table} WHERE user_id = $1`, [user.id]) }).toEqual({ table, rows: [] });
    }
    expect(await ownerSql('SELECT 1 FROM profile.profiles WHERE user_id = $1', [user.id])).toEqual([]);
    expect(await ownerSql('SELECT description, method_last4 FROM payments.payments WHERE user_id = $1', [user.id])).toEqual([
      { description: null, method_last4: null },
      { description: null, method_last4: null },
    ]);
    expect(await ownerSql('SELECT 1 FROM payments.idempotency_records WHERE user_id = $1', [user.id])).toEqual([]);
    expect(await ownerSql(`SELECT 1 FROM admin.audit_entries WHERE payload::text ILIKE '%' || $1 || '%'`, [user.email])).toEqual([]);
    expect(await ownerSql(totals, [user.id])).toEqual(before);

    const again = await graphql<{ eraseUser: { alreadyErased: boolean; erasedAt: string; changes: unknown[] } }>(stack.gatewayUrl, ERASE, {
      token: admin.accessToken,
      variables: { id: user.id },
    });
    // The same time as the first answer, auth's (it was when admin completed the request, later).
    expect(again.data?.eraseUser).toEqual({ userId: user.id, alreadyErased: true, erasedAt: result.data?.eraseUser.erasedAt, changes: [] });
    expect((await trailOf(user.id))?.map((entry) => entry.action)).toEqual(['user.erase']);

    // No longer a user: left out of the list (and its suspended ones, whom an admin would try to reinstate), as adminStats leaves it out.
    for (const filter of ['{ emailPrefix: "erased+" }', '{ status: SUSPENDED, emailPrefix: "erased+" }']) {
      const listed = await graphql<{ users: { edges: unknown[] } }>(stack.gatewayUrl, `{ users(first: 200, filter: ${filter}) { edges { node { id } } } }`, {
        token: admin.accessToken,
      });
      expect({ filter, listed: listed.data?.users.edges }).toEqual({ filter, listed: [] });
    }
  });

  /** Every table of every service (in whichever database holds it) with a row that contains one of `needles`. */
  async function tablesHolding(needles: string[]): Promise<string[]> {
    const found: string[] = [];
    for (const service of SERVICES) {
      const tables = await ownerQuery<{ name: string }>(
        service,
        `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY 1`,
        [service],
      );
      for (const { name } of tables) {
        const [hits] = await ownerQuery<{ n: number }>(service, `SELECT count(*)::int AS n FROM "${service}"."${name}" t WHERE t::text ILIKE ANY($1)`, [
          needles.map((needle) => `%${needle}%`),
        ]);
        if (hits?.n) found.push(`${service}.${name}`);
      }
    }
    return found;
  }

  /** Waits until auth's and payments' outboxes have delivered every event about these ids (audit entries included). */
  const delivered = (...ids: string[]) =>
    within(15_000, async () => {
      const about = [ids.map((id) => `%${id}%`)];
      const [auth] = await ownerSql<{ n: number }>('SELECT count(*)::int AS n FROM auth.outbox WHERE payload::text LIKE ANY($1)', about);
      const [payments] = await ownerSql<{ n: number }>('SELECT count(*)::int AS n FROM payments.outbox WHERE payload::text LIKE ANY($1)', about);
      return auth?.n === 0 && payments?.n === 0;
    });

  it('leaves nothing the user wrote, or admins wrote about them, in any column of any table', async () => {
    const tag = randomBytes(6).toString('hex');
    const email = freshEmail(`scan${tag}`);
    const words = {
      agent: `ScanAgent/${tag}`,
      name: `Name ${tag}`,
      bio: `Bio ${tag}`,
      description: `Description ${tag}`,
      paymentKey: `paykey-${tag}`,
      refundReason: `Refund reason ${tag}`,
      suspensionReason: `Suspension reason ${tag}`,
    };
    const signUp = await graphql<{ register: { accessToken: string; user: { id: string } } }>(
      stack.gatewayUrl,
      'mutation ($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }',
      { variables: { input: { email, password: PASSWORD } }, headers: { 'user-agent': words.agent } },
    );
    const token = signUp.data?.register.accessToken;
    const userId = signUp.data?.register.user.id as string;
    const profile = await graphql(stack.gatewayUrl, 'mutation ($d: String!, $b: String!) { updateMyProfile(input: { displayName: $d, bio: $b }) { bio } }', {
      token,
      variables: { d: words.name, b: words.bio },
    });
    const payment = await graphql<{ createPayment: { id: string } }>(
      stack.gatewayUrl,
      'mutation ($d: String!, $k: String!) { createPayment(input: { amount: "20.00", currency: "EUR", description: $d, paymentMethodToken: "tok_visa" }, idempotencyKey: $k) { id } }',
      { token, variables: { d: words.description, k: words.paymentKey } },
    );
    expect([signUp.errors, profile.errors, payment.errors]).toEqual([undefined, undefined, undefined]);
    await administer(
      stack.gatewayUrl,
      admin,
      'mutation ($id: ID!, $r: String!, $k: String!) { refundPayment(input: { paymentId: $id, amount: "5.00", reason: $r }, idempotencyKey: $k) { id } }',
      { id: payment.data?.createPayment.id, r: words.refundReason, k: `refund-${tag}` },
    );
    await administer(stack.gatewayUrl, admin, SUSPEND, { id: userId, reason: words.suspensionReason });
    const paymentId = payment.data?.createPayment.id as string;
    await delivered(userId, paymentId);
    const needles = [email, ...Object.values(words)];
    // The scan finds what it looks for: every table that holds the user's words, before erasure.
    expect(await tablesHolding(needles)).toEqual([
      'auth.sessions',
      'auth.users',
      'profile.profiles',
      'payments.idempotency_records',
      'payments.payments',
      'payments.refunds',
      'admin.audit_details',
    ]);

    // The admin's record of the refund keeps a hash of its request, reason included, which a guess of the reason would match.
    const refundHash = `SELECT request_hash FROM payments.idempotency_records WHERE operation = 'refundPayment' AND key = $1`;
    const [hashed] = await ownerSql<{ request_hash: string }>(refundHash, [`refund-${tag}`]);
    expect(hashed?.request_hash).toMatch(/^[0-9a-f]{64}$/);

    await administer(stack.gatewayUrl, admin, ERASE, { id: userId });
    await delivered(userId, paymentId);
    expect(await tablesHolding(needles)).toEqual([]);
    const [rehashed] = await ownerSql<{ request_hash: string }>(refundHash, [`refund-${tag}`]);
    expect(rehashed?.request_hash).not.toBe(hashed?.request_hash);
    expect((await trailOf(userId)).map(({ action, details }) => ({ action, details }))).toEqual([
      { action: 'user.erase', details: null },
      { action: 'user.suspend', details: null },
    ]);
  });

  it('drops an erasure auth refuses (no such user): nothing erased, nothing audited, nothing left to retry', async () => {
    const unknown = '00000000-0000-4000-8000-0000000e7a5e';
    const result = await graphql(stack.gatewayUrl, ERASE, { token: admin.accessToken, variables: { id: unknown } });
    expect(result.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(await ownerSql('SELECT 1 FROM admin.erasure_requests WHERE user_id = $1', [unknown])).toEqual([]);
    expect(await ownerSql('SELECT 1 FROM admin.audit_entries WHERE target_id = $1', [unknown])).toEqual([]);
  });

  it('erases once when asked twice at the same moment: one answer did it, the other found it done; one audit entry', async () => {
    const user = await register(stack.gatewayUrl);
    await pay(stack.gatewayUrl, user, '3.00');
    type Report = { eraseUser: { alreadyErased: boolean; changes: unknown[] } };
    const answers = await Promise.all([1, 2].map(() => graphql<Report>(stack.gatewayUrl, ERASE, { token: admin.accessToken, variables: { id: user.id } })));
    expect(answers.map((answer) => answer.errors)).toEqual([undefined, undefined]);
    // One did it; the other found it done (both had asked the services, which answered the same to both).
    const reports = answers.map((answer) => answer.data?.eraseUser);
    expect(reports.filter((report) => report && !report.alreadyErased)).toEqual([
      expect.objectContaining({ alreadyErased: false, changes: expect.arrayContaining([expect.anything()]) }),
    ]);
    expect(reports.filter((report) => report?.alreadyErased)).toEqual([expect.objectContaining({ alreadyErased: true, changes: [] })]);
    expect(await ownerSql(`SELECT count(*)::int AS n FROM admin.audit_entries WHERE target_id = $1 AND action = 'user.erase'`, [user.id])).toEqual([{ n: 1 }]);
    expect(await ownerSql('SELECT description IS NULL AS anonymised FROM payments.payments WHERE user_id = $1', [user.id])).toEqual([{ anonymised: true }]);
  });
});
