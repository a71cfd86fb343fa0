import { httpStatus } from '@fedstack/scripts';
import { ACCOUNT_VIEW_SERVICES } from '@fedstack/service-kit';
import { fakePeer, graphql } from '@fedstack/service-kit/testing';
import { ownerSql } from '@fedstack/shared-db/testing';
import { ERASE, demoAdmin, pay, register, within } from './clients';
import { startProcessStack, type ProcessStack } from './processes';

/**
 * Crashes between the steps of what crosses services (kill -9, nothing flushed), then convergence with
 * no operator action: an action and its audit entry end up both done or both not done; an erasure once
 * requested ends done and audited (docs/adr/0006-split-databases.md). Retry intervals are shortened so
 * that the bound is seconds here; the defaults and what they bound are in the README.
 */
describe('after a crash at any step, the system converges', () => {
  // Longer than the bounds of a test's steps added up (a restart's readiness, an answer, convergence), so
  // that a slow step fails naming itself rather than the test outlasting Jest's time somewhere unsaid.
  jest.setTimeout(120_000);
  let stack: ProcessStack;
  let starting: Promise<ProcessStack>;
  const CONVERGED_WITHIN_MS = 15_000;

  beforeAll(async () => {
    starting = startProcessStack({ OUTBOX_POLL_MS: '200', OUTBOX_MAX_BACKOFF_MS: '500', INTERNAL_TIMEOUT_MS: '1000' });
    stack = await starting;
  }, 120_000);
  // Stopped even when starting outlasted the hook's time: it leaves nothing running, and starts nothing after.
  afterAll(async () => {
    await (await starting).stop();
    await expect(stack.start('auth')).rejects.toThrow('the stack has stopped');
  });

  const auditEntries = (targetId: string, action: string) =>
    ownerSql<{ n: number }>('SELECT count(*)::int AS n FROM admin.audit_entries WHERE target_id = $1 AND action = $2', [targetId, action]);

  it('starts no process twice: a test that outlasts its time and goes on leaves nothing running behind', async () => {
    await expect(stack.start('auth')).rejects.toThrow('auth is already running');
    // The auth that runs is still the stack's to stop: once crashed, nothing answers on its port.
    await stack.crash('auth');
    const readiness = new URL('/readyz', String(stack.env.AUTH_SUBGRAPH_URL)).href;
    await expect(httpStatus(readiness, 1000)).rejects.toThrow('ECONNREFUSED');
    await stack.start('auth');
  });

  it('auth suspends and dies before admin has the audit entry: the entry arrives once both are back', async () => {
    const [admin, user] = await Promise.all([demoAdmin(stack.gatewayUrl), register(stack.gatewayUrl)]);
    await stack.crash('admin');
    // What admin does first for suspendUser, done here as admin would: ask auth, over the internal API,
    // signing with a key served where auth looks for admin's (admin's port, free now).
    const adminUrl = new URL(String(stack.env.ADMIN_SUBGRAPH_URL));
    const asAdmin = await fakePeer('admin', { auth: new URL(String(stack.env.AUTH_SUBGRAPH_URL)).origin }, Number(adminUrl.port));
    try {
      await asAdmin.client.command('auth', 'suspendUser', { actor: { userId: admin.id, requestId: 'crash-1' }, userId: user.id, reason: 'crash test' });
    } finally {
      await asAdmin.close();
    }
    // Step 2 (admin records the entry) never happened; auth, with the entry in its outbox, dies too.
    await stack.crash('auth');
    expect(await ownerSql(`SELECT status::text FROM auth.users WHERE id = $1`, [user.id])).toEqual([{ status: 'SUSPENDED' }]);
    expect(await auditEntries(user.id, 'user.suspend')).toEqual([{ n: 0 }]);

    await stack.start('auth');
    await stack.start('admin');
    await within(CONVERGED_WITHIN_MS, async () => (await auditEntries(user.id, 'user.suspend'))[0]?.n === 1, 'audited');
    // And the suspension reached every service's view of accounts the same way.
    const suspendedIn = async (service: string) =>
      (await ownerSql<{ status: string }>(`SELECT status FROM ${service}.account_states WHERE user_id = $1`, [user.id]))[0]?.status === 'SUSPENDED';
    await within(CONVERGED_WITHIN_MS, async () => (await Promise.all(ACCOUNT_VIEW_SERVICES.map(suspendedIn))).every(Boolean), 'suspended in every view');
  });

  it('a refund whose audit entry could not be delivered (admin down, payments killed) is audited once both are back', async () => {
    const [admin, user] = await Promise.all([demoAdmin(stack.gatewayUrl), register(stack.gatewayUrl)]);
    const paymentId = (await pay(stack.gatewayUrl, user, '20.00')).data?.createPayment.id as string;
    await stack.crash('admin');
    const refund = await graphql(
      stack.gatewayUrl,
      'mutation ($id: ID!) { refundPayment(input: { paymentId: $id, amount: "5.00" }, idempotencyKey: "crash-refund") { id } }',
      {
        token: admin.accessToken,
        variables: { id: paymentId },
      },
    );
    expect(refund.errors).toBeUndefined();
    await stack.crash('payments');
    expect(await auditEntries(paymentId, 'payment.refund')).toEqual([{ n: 0 }]);
    await stack.start('payments');
    await stack.start('admin');
    await within(CONVERGED_WITHIN_MS, async () => (await auditEntries(paymentId, 'payment.refund'))[0]?.n === 1, 'audited');
  });

  it('an erasure interrupted part-way (payments down, admin killed) is finished and audited once they are back', async () => {
    const [admin, user] = await Promise.all([demoAdmin(stack.gatewayUrl), register(stack.gatewayUrl)]);
    await graphql(stack.gatewayUrl, 'mutation { updateMyProfile(input: { displayName: "Half Erased" }) { displayName } }', { token: user.accessToken });
    await pay(stack.gatewayUrl, user, '7.00');
    await stack.crash('payments');
    const interrupted = await graphql(stack.gatewayUrl, ERASE, { token: admin.accessToken, variables: { id: user.id } });
    expect(interrupted.errors?.[0]).toMatchObject({
      message: expect.stringMatching(/^Erasure started but not finished \(The payments service could not be reached\); it will finish by itself/),
      extensions: { code: 'SUBGRAPH_UNAVAILABLE', unavailableService: 'payments' },
    });
    // auth and profile have erased their part; payments has not; nothing is audited yet.
    expect(await ownerSql('SELECT erased_at IS NOT NULL AS erased FROM auth.users WHERE id = $1', [user.id])).toEqual([{ erased: true }]);
    expect(await ownerSql('SELECT 1 FROM profile.profiles WHERE user_id = $1', [user.id])).toEqual([]);
    expect(await ownerSql('SELECT count(*)::int AS n FROM payments.payments WHERE user_id = $1 AND anonymised_at IS NULL', [user.id])).toEqual([{ n: 1 }]);
    expect(await auditEntries(user.id, 'user.erase')).toEqual([{ n: 0 }]);

    await stack.crash('admin');
    await stack.start('payments');
    await stack.start('admin');
    await within(CONVERGED_WITHIN_MS, async () => (await auditEntries(user.id, 'user.erase'))[0]?.n === 1, 'audited');
    expect(await ownerSql('SELECT count(*)::int AS n FROM payments.payments WHERE user_id = $1 AND anonymised_at IS NULL', [user.id])).toEqual([{ n: 0 }]);
    expect(await ownerSql('SELECT completed_at IS NOT NULL AS done FROM admin.erasure_requests WHERE user_id = $1', [user.id])).toEqual([{ done: true }]);
    const again = await graphql(stack.gatewayUrl, ERASE, { token: admin.accessToken, variables: { id: user.id } });
    expect(again.data).toMatchObject({ eraseUser: { alreadyErased: true } });
  });

  describe('payments dies while the processor charges', () => {
    /** Starts a charge that hangs in the (slow) processor, and kills payments once it is recorded PENDING. */
    async function interruptedCharge(key: string) {
      const user = await register(stack.gatewayUrl);
      await stack.crash('payments');
      await stack.start('payments', { PAYMENTS_PROCESSOR_DELAY_MS: '60000', PAYMENTS_RECOVERY_AFTER_MS: '3600000' });
      const inFlight = pay(stack.gatewayUrl, user, '12.34', key);
      await within(
        CONVERGED_WITHIN_MS,
        async () => (await ownerSql(`SELECT 1 FROM payments.payments WHERE user_id = $1 AND status = 'PENDING'`, [user.id])).length === 1,
        'recorded PENDING',
      );
      await stack.crash('payments');
      expect((await inFlight).errors?.[0]?.extensions?.code).toBe('SUBGRAPH_UNAVAILABLE');
      return user;
    }
    const paymentsOf = (userId: string) =>
      ownerSql<{ id: string; status: string; pending: boolean; ref: boolean }>(
        'SELECT id, status::text, pending_token IS NOT NULL AS pending, processor_ref IS NOT NULL AS ref FROM payments.payments WHERE user_id = $1',
        [userId],
      );

    it('the recovery worker finishes the recorded charge after a restart, and the retry gets that payment', async () => {
      const user = await interruptedCharge('crash-recovery');
      await stack.start('payments', { PAYMENTS_RECOVERY_AFTER_MS: '0', PAYMENTS_RECOVERY_POLL_MS: '200' });
      await within(CONVERGED_WITHIN_MS, async () => (await paymentsOf(user.id))[0]?.status === 'SUCCEEDED', 'settled');
      const [payment] = await paymentsOf(user.id);
      expect(payment).toMatchObject({ status: 'SUCCEEDED', pending: false, ref: true });
      const retried = await pay(stack.gatewayUrl, user, '12.34', 'crash-recovery');
      expect(retried.data?.createPayment.id).toBe(payment?.id);
      expect(await paymentsOf(user.id)).toHaveLength(1);
    });

    it("the client's retry finishes it when it comes first", async () => {
      const user = await interruptedCharge('crash-retry');
      await stack.start('payments');
      const retried = await pay(stack.gatewayUrl, user, '12.34', 'crash-retry');
      expect(retried.errors).toBeUndefined();
      expect(await paymentsOf(user.id)).toEqual([{ id: retried.data?.createPayment.id, status: 'SUCCEEDED', pending: false, ref: true }]);
    });
  });
});
