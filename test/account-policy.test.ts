import { graphql } from '@fedstack/service-kit/testing';
import { ownerSql } from '@fedstack/shared-db/testing';
import { ACCOUNT_CHANGE_BOUND_MS, ERASE, SET_ROLE, SUSPEND, administer, demoAdmin, newAdmin, pay, register, within, type SignedIn } from './clients';
import { startStack, type RunningStack } from './stack';

/**
 * The account policy, case by case, through the gateway with tokens issued before the change: every
 * service stops honouring a right once auth has taken it away, within the documented bound, in whichever
 * layout the suite runs (docs/adr/0006-split-databases.md).
 */
describe('an access token loses what its account has lost, in every service', () => {
  let stack: RunningStack;
  let admin: SignedIn;
  let victim: SignedIn;
  let victimPayment: string;

  beforeAll(async () => {
    stack = await startStack();
    admin = await demoAdmin(stack.gatewayUrl);
    victim = await register(stack.gatewayUrl);
    await graphql(stack.gatewayUrl, 'mutation { updateMyProfile(input: { displayName: "Victim" }) { displayName } }', { token: victim.accessToken });
    victimPayment = (await pay(stack.gatewayUrl, victim)).data?.createPayment.id as string;
  });
  afterAll(() => stack.stop());

  /** Another user's payment and the profile behind it, as payments and profile each decide. */
  const READ_OTHERS = 'query ($id: ID!) { payment(id: $id) { amount user { profile { displayName } } } }';
  const readsOthers = (token: string) => graphql<{ payment: unknown }>(stack.gatewayUrl, READ_OTHERS, { token, variables: { id: victimPayment } });
  const PROFILE_WRITE = 'mutation { updateMyProfile(input: { bio: "still here?" }) { bio } }';
  const code = (result: { errors?: { extensions?: Record<string, unknown> }[] }) => result.errors?.[0]?.extensions?.code;

  /** Whether the token still does something in profile and in payments: both must stop. */
  async function writes(user: SignedIn): Promise<{ profile: unknown; payments: unknown }> {
    const profile = await graphql(stack.gatewayUrl, PROFILE_WRITE, { token: user.accessToken });
    const payment = await pay(stack.gatewayUrl, user);
    return { profile: code(profile) ?? 'allowed', payments: code(payment) ?? 'allowed' };
  }

  async function allRefused(user: SignedIn, expected: string): Promise<void> {
    await within(ACCOUNT_CHANGE_BOUND_MS, async () => {
      const outcome = await writes(user);
      return outcome.profile === expected && outcome.payments === expected;
    });
  }

  it("a demoted admin's token no longer reads other users' payments or profiles", async () => {
    const other = await newAdmin(stack.gatewayUrl);
    const before = await readsOthers(other.accessToken);
    expect(before.data?.payment).toEqual({ amount: '9.99', user: { profile: { displayName: 'Victim' } } });
    await administer(stack.gatewayUrl, admin, SET_ROLE, { id: other.id, role: 'USER' });
    await within(ACCOUNT_CHANGE_BOUND_MS, async () => (await readsOthers(other.accessToken)).data?.payment === null);
  });

  it("a demoted admin's token no longer administers anyone (admin's view, and auth behind it)", async () => {
    const other = await newAdmin(stack.gatewayUrl);
    const target = await register(stack.gatewayUrl);
    await administer(stack.gatewayUrl, admin, SET_ROLE, { id: other.id, role: 'USER' });
    await within(ACCOUNT_CHANGE_BOUND_MS, async () => {
      const attempt = await graphql(stack.gatewayUrl, SUSPEND, { token: other.accessToken, variables: { id: target.id, reason: 'no longer allowed' } });
      return code(attempt) === 'FORBIDDEN';
    });
    const me = await graphql(stack.gatewayUrl, '{ me { status } }', { token: target.accessToken });
    expect(me.data).toEqual({ me: { status: 'ACTIVE' } });
  });

  it("a suspended admin's token no longer reads other users' payments or profiles", async () => {
    const other = await newAdmin(stack.gatewayUrl);
    expect((await readsOthers(other.accessToken)).data?.payment).not.toBeNull();
    await administer(stack.gatewayUrl, admin, SUSPEND, { id: other.id, reason: 'policy test' });
    await within(ACCOUNT_CHANGE_BOUND_MS, async () => code(await readsOthers(other.accessToken)) === 'FORBIDDEN');
  });

  it("a suspended user's token no longer pays or changes the profile", async () => {
    const user = await register(stack.gatewayUrl);
    expect(await writes(user)).toEqual({ profile: 'allowed', payments: 'allowed' });
    await administer(stack.gatewayUrl, admin, SUSPEND, { id: user.id, reason: 'policy test' });
    await allRefused(user, 'FORBIDDEN');
  });

  it("an erased user's token creates no profile and no payment for the erased account", async () => {
    const user = await register(stack.gatewayUrl);
    expect(await writes(user)).toEqual({ profile: 'allowed', payments: 'allowed' });
    const erased = await administer(stack.gatewayUrl, admin, ERASE, { id: user.id });
    expect(erased.data).toMatchObject({ eraseUser: { alreadyErased: false } });
    const payments = () => ownerSql<{ n: number }>('SELECT count(*)::int AS n FROM payments.payments WHERE user_id = $1', [user.id]);
    const kept = await payments();
    // Erasure records the account as erased in each service as it erases there: no delay at all.
    expect(await writes(user)).toEqual({ profile: 'UNAUTHENTICATED', payments: 'UNAUTHENTICATED' });
    expect(await ownerSql('SELECT 1 FROM profile.profiles WHERE user_id = $1', [user.id])).toEqual([]);
    expect(await payments()).toEqual(kept);
  });

  it.each([
    ['logout', (user: SignedIn) => graphql(stack.gatewayUrl, 'mutation ($t: String!) { logout(refreshToken: $t) }', { variables: { t: user.refreshToken } })],
    ['logoutEverywhere', (user: SignedIn) => graphql(stack.gatewayUrl, 'mutation { logoutEverywhere }', { token: user.accessToken })],
    [
      'a refresh-token family revocation (a rotated refresh token used again, after its successor)',
      async (user: SignedIn) => {
        const refresh = 'mutation ($t: String!) { refreshSession(refreshToken: $t) { refreshToken } }';
        const rotated = await graphql<{ refreshSession: { refreshToken: string } }>(stack.gatewayUrl, refresh, { variables: { t: user.refreshToken } });
        await graphql(stack.gatewayUrl, refresh, { variables: { t: rotated.data?.refreshSession.refreshToken } });
        return graphql(stack.gatewayUrl, refresh, { variables: { t: user.refreshToken } });
      },
    ],
  ])('after %s, the access token of that sign-in is refused everywhere', async (_label, end) => {
    const user = await register(stack.gatewayUrl);
    expect(await writes(user)).toEqual({ profile: 'allowed', payments: 'allowed' });
    await end(user);
    const me = await graphql(stack.gatewayUrl, '{ me { id } }', { token: user.accessToken });
    expect(code(me)).toBe('UNAUTHENTICATED');
    await allRefused(user, 'UNAUTHENTICATED');
  });
});
