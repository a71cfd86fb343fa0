import { pollUntil } from '@fedstack/runtime';
import { graphql, type GraphQLResponse } from '@fedstack/service-kit/testing';

/** What tests do through the gateway, as an app would: sign up, sign in, pay, administer. */

export const PASSWORD = 'end to end password';
let sequence = 0;

/** An email no other test uses. */
export function freshEmail(label = 'e2e'): string {
  sequence += 1;
  return `${label}-${Date.now().toString(36)}-${process.pid}-${sequence}@example.com`;
}

export interface SignedIn {
  id: string;
  email: string;
  accessToken: string;
  refreshToken: string;
}

const REGISTER = 'mutation ($input: RegisterInput!) { register(input: $input) { accessToken refreshToken user { id } } }';
const LOGIN = 'mutation ($input: LoginInput!) { login(input: $input) { accessToken refreshToken user { id } } }';

type AuthAnswer = { accessToken: string; refreshToken: string; user: { id: string } };

function signedIn(email: string, answer: AuthAnswer | undefined): SignedIn {
  if (!answer) throw new Error(`${email} could not sign in`);
  return { id: answer.user.id, email, accessToken: answer.accessToken, refreshToken: answer.refreshToken };
}

/** A new account, signed in. */
export async function register(gatewayUrl: string, email = freshEmail()): Promise<SignedIn> {
  const result = await graphql<{ register: AuthAnswer }>(gatewayUrl, REGISTER, { variables: { input: { email, password: PASSWORD } } });
  if (result.errors) throw new Error(`register failed: ${JSON.stringify(result.errors)}`);
  return signedIn(email, result.data?.register);
}

/** Signs in again: a new sign-in (refresh-token family) with its own tokens. */
export async function login(gatewayUrl: string, email: string, password = PASSWORD): Promise<SignedIn> {
  const result = await graphql<{ login: AuthAnswer }>(gatewayUrl, LOGIN, { variables: { input: { email, password } } });
  if (result.errors) throw new Error(`login failed: ${JSON.stringify(result.errors)}`);
  return signedIn(email, result.data?.login);
}

/** The demo admin, signed in. */
export function demoAdmin(gatewayUrl: string): Promise<SignedIn> {
  return login(gatewayUrl, 'admin@example.com', 'admin-demo-password');
}

/** Runs an admin mutation on a user and fails the test if it is refused. */
export async function administer(gatewayUrl: string, admin: SignedIn, mutation: string, variables: Record<string, unknown>): Promise<GraphQLResponse> {
  const result = await graphql(gatewayUrl, mutation, { token: admin.accessToken, variables });
  if (result.errors) throw new Error(`admin mutation failed: ${JSON.stringify(result.errors)}`);
  return result;
}

export const SUSPEND = 'mutation ($id: ID!, $reason: String!) { suspendUser(userId: $id, reason: $reason) { id } }';
export const REINSTATE = 'mutation ($id: ID!) { reinstateUser(userId: $id) { id } }';
export const SET_ROLE = 'mutation ($id: ID!, $role: Role!) { setUserRole(userId: $id, role: $role) { id } }';
export const ERASE = 'mutation ($id: ID!) { eraseUser(userId: $id) { userId alreadyErased erasedAt changes { schema table action rows } } }';

/** One entry of a user's audit trail, as an admin reads it through the gateway. */
export interface TrailEntry {
  action: string;
  requestId: string | null;
  payload: Record<string, unknown>;
  details: unknown;
  actor: { email: string };
}

/** A user's audit trail, newest first, as `admin` reads it through the gateway. */
export async function auditTrailOf(gatewayUrl: string, admin: SignedIn, userId: string): Promise<TrailEntry[]> {
  const result = await graphql<{ user: { auditTrail: { edges: { node: TrailEntry }[] } } }>(
    gatewayUrl,
    'query ($id: ID!) { user(id: $id) { auditTrail { edges { node { action requestId payload details actor { email } } } } } }',
    { token: admin.accessToken, variables: { id: userId } },
  );
  if (result.errors) throw new Error(`auditTrail failed: ${JSON.stringify(result.errors)}`);
  return result.data?.user.auditTrail.edges.map((edge) => edge.node) ?? [];
}

/** A new account promoted to admin by the demo admin, signed in again so that its token says ADMIN. */
export async function newAdmin(gatewayUrl: string): Promise<SignedIn> {
  const user = await register(gatewayUrl, freshEmail('admin'));
  await administer(gatewayUrl, await demoAdmin(gatewayUrl), SET_ROLE, { id: user.id, role: 'ADMIN' });
  return login(gatewayUrl, user.email);
}

/** Pays as `user` and returns the payment's id. */
export async function pay(
  gatewayUrl: string,
  user: SignedIn,
  amount = '9.99',
  key = `key-${Math.random()}`,
): Promise<GraphQLResponse<{ createPayment: { id: string } }>> {
  return graphql<{ createPayment: { id: string } }>(
    gatewayUrl,
    'mutation ($amount: Decimal!, $key: String!) { createPayment(input: { amount: $amount, currency: "EUR", paymentMethodToken: "tok_visa" }, idempotencyKey: $key) { id } }',
    { token: user.accessToken, variables: { amount, key } },
  );
}

/**
 * Retries `attempt` until it returns true or `withinMs` has passed: the bound within which a change
 * made in one service is in force in the others (docs/adr/0006-split-databases.md). Returns how long it
 * took; fails with "not <what> within <n> ms".
 */
export async function within(withinMs: number, attempt: () => Promise<boolean>, what = 'converged'): Promise<number> {
  const started = Date.now();
  await pollUntil(what, attempt, { timeoutMs: withinMs, intervalMs: 25 });
  return Date.now() - started;
}

/** The bound the account policy documents for a change to reach every running service. */
export const ACCOUNT_CHANGE_BOUND_MS = 2000;
