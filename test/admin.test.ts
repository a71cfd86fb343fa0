import { graphql } from '@fedstack/service-kit/testing';
import { ownerSql } from '@fedstack/shared-db/testing';
import { ERASE, PASSWORD, REINSTATE, SET_ROLE, SUSPEND, administer, auditTrailOf, demoAdmin, login, register, type SignedIn } from './clients';
import { startStack, type RunningStack } from './stack';

/**
 * What admins do to accounts, through the gateway with every service running: auth makes the change and
 * the trail records it; the dashboard's figures come from the services that own them. Erasure, which
 * reaches every service that holds the user's data, is in erasure.test.ts.
 */
describe('administration across services', () => {
  let stack: RunningStack;
  let admin: SignedIn;

  beforeAll(async () => {
    stack = await startStack();
    admin = await demoAdmin(stack.gatewayUrl);
  });
  afterAll(() => stack.stop());

  const trailOf = (userId: string) => auditTrailOf(stack.gatewayUrl, admin, userId);

  it('suspends: sign-in and refresh refused, one audit entry with the request id, visible as soon as the mutation answers', async () => {
    const user = await register(stack.gatewayUrl);
    const suspended = await graphql(
      stack.gatewayUrl,
      `
        ${SUSPEND.replace('{ id }', '{ id status }')}
      `,
      {
        token: admin.accessToken,
        variables: { id: user.id, reason: 'chargeback fraud' },
        headers: { 'x-request-id': `suspend-${user.id}` },
      },
    );
    expect(suspended.data).toEqual({ suspendUser: { id: user.id, status: 'SUSPENDED' } });
    const relogin = await graphql(stack.gatewayUrl, 'mutation ($e: EmailAddress!, $p: String!) { login(input: { email: $e, password: $p }) { accessToken } }', {
      variables: { e: user.email, p: PASSWORD },
    });
    expect(relogin.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const refresh = await graphql(stack.gatewayUrl, 'mutation ($t: String!) { refreshSession(refreshToken: $t) { accessToken } }', {
      variables: { t: user.refreshToken },
    });
    expect(refresh.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(await trailOf(user.id)).toEqual([
      {
        action: 'user.suspend',
        requestId: `suspend-${user.id}`,
        actor: { email: 'admin@example.com' },
        payload: { before: { status: 'ACTIVE' }, after: { status: 'SUSPENDED' }, sessionsRevoked: 1 },
        details: { reason: 'chargeback fraud' },
      },
    ]);
    // Suspending again changes nothing and records nothing.
    await administer(stack.gatewayUrl, admin, SUSPEND, { id: user.id, reason: 'again' });
    expect(await trailOf(user.id)).toHaveLength(1);
  });

  it('reinstates and changes roles, each with one audit entry; the user signs in again as the new role', async () => {
    const user = await register(stack.gatewayUrl);
    await administer(stack.gatewayUrl, admin, SUSPEND, { id: user.id, reason: 'check' });
    await administer(stack.gatewayUrl, admin, REINSTATE, { id: user.id });
    await administer(stack.gatewayUrl, admin, SET_ROLE, { id: user.id, role: 'ADMIN' });
    expect((await trailOf(user.id))?.map((entry) => entry.action)).toEqual(['user.role_change', 'user.reinstate', 'user.suspend']);
    const again = await login(stack.gatewayUrl, user.email);
    const me = await graphql(stack.gatewayUrl, '{ me { role status } }', { token: again.accessToken });
    expect(me.data).toEqual({ me: { role: 'ADMIN', status: 'ACTIVE' } });
  });

  it('refuses an unknown user (NOT_FOUND) and an erased one (CONFLICT), changing nothing', async () => {
    const unknown = await graphql(stack.gatewayUrl, SUSPEND, {
      token: admin.accessToken,
      variables: { id: '00000000-0000-4000-8000-00000000beef', reason: 'x' },
    });
    expect(unknown.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND' });
    // A UUID of no RFC 9562 version: admin took it, and auth's command refused it as an internal matter
    // (BAD_USER_INPUT without the field, its message naming the command).
    for (const [action, variables] of [
      [SUSPEND, { reason: 'x' }],
      [REINSTATE, {}],
      [SET_ROLE, { role: 'ADMIN' }],
      [ERASE, {}],
    ] as const) {
      const answer = await graphql(stack.gatewayUrl, action, {
        token: admin.accessToken,
        variables: { id: '12345678-1234-0234-0234-123456789012', ...variables },
      });
      expect({ action, error: answer.errors?.[0]?.extensions?.code }).toEqual({ action, error: 'NOT_FOUND' });
    }
    const user = await register(stack.gatewayUrl);
    await administer(stack.gatewayUrl, admin, ERASE, { id: user.id });
    const erased = await graphql(stack.gatewayUrl, SET_ROLE, { token: admin.accessToken, variables: { id: user.id, role: 'ADMIN' } });
    expect(erased.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT' });
    expect((await trailOf(user.id))?.map((entry) => entry.action)).toEqual(['user.erase']);
  });

  it('answers adminStats with the figures auth and payments contribute through its key: they count what this test made', async () => {
    type Count<K extends string> = Record<K, string> & { count: number };
    type Stats = {
      usersByRole: Count<'role'>[];
      usersByStatus: Count<'status'>[];
      signupsLast24Hours: number;
      signupsLast30Days: number;
      paymentVolume: { currency: string; status: string; count: number; amount: string }[];
    };
    const STATS = `{ adminStats { usersByRole { role count } usersByStatus { status count } signupsLast24Hours signupsLast30Days
      paymentVolume { currency status count amount } } }`;
    const stats = async (): Promise<Stats> => {
      const result = await graphql<{ adminStats: Stats }>(stack.gatewayUrl, STATS, { token: admin.accessToken });
      if (result.errors) throw new Error(`adminStats failed: ${JSON.stringify(result.errors)}`);
      return result.data?.adminStats as Stats;
    };
    // Exact figures: this file has its worker's database to itself (jest.config.js), so only what this
    // test makes between the two readings changes them.
    const before = await stats();
    const user = await register(stack.gatewayUrl);
    const promoted = await register(stack.gatewayUrl);
    await administer(stack.gatewayUrl, admin, SET_ROLE, { id: promoted.id, role: 'ADMIN' });
    const suspended = await register(stack.gatewayUrl);
    await administer(stack.gatewayUrl, admin, SUSPEND, { id: suspended.id, reason: 'stats' });
    const kwd = (amount: string, card: string) =>
      graphql(
        stack.gatewayUrl,
        'mutation ($a: Decimal!, $c: String!, $k: String!) { createPayment(input: { amount: $a, currency: "KWD", paymentMethodToken: $c }, idempotencyKey: $k) { status } }',
        { token: user.accessToken, variables: { a: amount, c: card, k: `stats-${card}` } },
      );
    expect((await kwd('1.25', 'tok_visa')).data).toEqual({ createPayment: { status: 'SUCCEEDED' } });
    // Declined: the client is told so, and the payment is kept as FAILED.
    expect((await kwd('0.5', 'tok_decline')).errors?.[0]?.extensions?.code).toBe('PAYMENT_DECLINED');
    const after = await stats();

    const change = <K extends string>(key: K, values: string[], pick: (figures: Stats) => Count<K>[]) =>
      Object.fromEntries(
        values.map((value) => {
          const count = (figures: Stats) => pick(figures).find((entry) => entry[key] === value)?.count ?? 0;
          return [value, count(after) - count(before)];
        }),
      );
    // auth's part: three sign-ups, one of them now an admin and one suspended.
    expect(change('role', ['USER', 'ADMIN'], (figures) => figures.usersByRole)).toEqual({ USER: 2, ADMIN: 1 });
    expect(change('status', ['ACTIVE', 'SUSPENDED'], (figures) => figures.usersByStatus)).toEqual({ ACTIVE: 2, SUSPENDED: 1 });
    expect([after.signupsLast24Hours - before.signupsLast24Hours, after.signupsLast30Days - before.signupsLast30Days]).toEqual([3, 3]);
    // payments' part: the two payments, in KWD's three decimals.
    const volume = (figures: Stats, status: string) => figures.paymentVolume.find((entry) => entry.currency === 'KWD' && entry.status === status);
    const thousandths = (amount = '0') => Math.round(Number(amount) * 1000);
    for (const [status, amount] of [
      ['SUCCEEDED', 1250],
      ['FAILED', 500],
    ] as const) {
      const [was, is] = [volume(before, status), volume(after, status)];
      expect({
        status,
        count: (is?.count ?? 0) - (was?.count ?? 0),
        thousandths: thousandths(is?.amount) - thousandths(was?.amount),
        scale: is?.amount.split('.')[1]?.length,
      }).toEqual({
        status,
        count: 1,
        thousandths: amount,
        scale: 3,
      });
    }
    // And every figure is what the owning service's tables hold.
    const byRole = await ownerSql<{ role: string; count: number }>(
      `SELECT u.role::text AS role, count(*)::int AS count FROM auth.users u WHERE u.erased_at IS NULL GROUP BY u.role ORDER BY u.role`,
    );
    expect(after.usersByRole).toEqual(byRole);
    const volumes = await ownerSql<{ currency: string; status: string; count: number; total: string }>(
      'SELECT currency, status::text AS status, count(*)::int AS count, sum(amount)::text AS total FROM payments.payments GROUP BY currency, status ORDER BY currency, status',
    );
    expect(after.paymentVolume.map(({ currency, status, count, amount }) => ({ currency, status, count, thousandths: thousandths(amount) }))).toEqual(
      volumes.map(({ currency, status, count, total }) => ({ currency, status, count, thousandths: thousandths(total) })),
    );

    const asUser = await graphql(stack.gatewayUrl, '{ adminStats { usersByRole { count } paymentVolume { count } } }', {
      token: (await register(stack.gatewayUrl)).accessToken,
    });
    expect(asUser.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(asUser.data).toBeNull();
  });
});
