// The example page's script: sign in, then the README's tour (my account, pay, payment updates, refund, users) through Apollo Client.
import type { Subscription } from 'rxjs';
import { connect, endsSession, refusesToken, type Connection } from './apollo';
import { ADMIN_USERS, CREATE_PAYMENT, MY_ACCOUNT, PAYMENT_UPDATES, REFUND_PAYMENT, SIGN_IN } from './operations';
import { account, byId, describeError, paymentEvent, show, users } from './view';

const gatewayUrl = document.querySelector<HTMLMetaElement>('meta[name="gateway-url"]')?.content ?? '';

/** Who is signed in, and their connection; anonymous until someone signs in. */
let session: { connection: Connection; role?: string; updates?: Subscription; interrupted?: string } = { connection: connect(gatewayUrl) };

/** Runs what a button does, showing its error if it fails. */
function run(action: () => Promise<void>): void {
  show('error');
  action().catch((error: unknown) => show('error', unreachable(error) ?? describeError(error)));
}

/** What to do when the browser could not reach the gateway at all (it said only "Failed to fetch"), or it did not answer in time. */
function unreachable(error: unknown): string | undefined {
  if (error instanceof DOMException && error.name === 'TimeoutError') {
    return `The gateway at ${gatewayUrl} did not answer in time: ask again (a payment or refund asked again is not made twice)`;
  }
  if (!(error instanceof TypeError) || !/fetch/i.test(error.message)) return undefined;
  return `Could not reach the gateway at ${gatewayUrl} (${error.message}): is it running (npm start), and is that its GraphQL endpoint, ending in /graphql?`;
}

/** A form's fields by name. */
function fields(form: HTMLFormElement): Record<string, string> {
  return Object.fromEntries([...new FormData(form)].flatMap(([name, value]) => (typeof value === 'string' ? [[name, value]] : [])));
}

/**
 * Calls `action` with the form's fields when it is submitted, its button disabled until it is done: a
 * second click on Pay while the first was under way charged twice.
 */
function onSubmit(id: string, action: (values: Record<string, string>, form: HTMLFormElement) => Promise<void>): void {
  const form = byId<HTMLFormElement>(id);
  const button = form.querySelector('button');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (button?.disabled) return;
    if (button) button.disabled = true;
    run(() => action(fields(form), form).finally(() => button && (button.disabled = false)));
  });
}

const intents = new WeakMap<HTMLFormElement, string>();

/**
 * The idempotency key of what a form asks for (a payment, a refund): the same until it has succeeded or
 * its values change, so that asking again after a failure (a timeout, the gateway away) is the same
 * request and is not carried out twice; a key per click made each retry a new charge.
 */
function intentKey(form: HTMLFormElement): string {
  let key = intents.get(form);
  if (!key) {
    key = crypto.randomUUID();
    intents.set(form, key);
    form.addEventListener('input', () => intents.delete(form), { once: true });
  }
  return key;
}

/** The longest pause before subscribing again, and how long a subscription must have lasted for the pauses to start again from one second. */
const MAX_PAUSE_MS = 30_000;

/**
 * Shows every change to the signed-in user's payments, as it commits, for as long as they are signed in.
 * Whatever ends the subscription (a subgraph restarting: SUBGRAPH_UNAVAILABLE; the access token expiring:
 * 4401, after which the connection refreshes the session; the network, once graphql-ws has given up) it
 * subscribes again after a pause that doubles up to 30 s, and reads the account again if it is shown:
 * events from while it was away are not sent again. One ended for good (the account suspended, the
 * sign-in ended) signs the page out instead.
 */
function watchPayments(current: typeof session, pause = 1000): void {
  const started = Date.now();
  // An event may carry errors (a field another subgraph could not resolve) and the subscription goes on; the last is why it ended, if it then does.
  let lastError: unknown;
  const resume = async (reason: unknown) => {
    if (session !== current) return;
    current.updates?.unsubscribe();
    // A refused token: expired (its error can come before the gateway's 4401 for it, and the page signed
    // out a user whose sign-in was going on), or its sign-in ended, which only a refused refresh says.
    const refused = refusesToken(reason) && !current.connection.sessionEnded();
    if (refused) await current.connection.renew();
    if (session !== current) return;
    // Suspended, or signed out elsewhere: no new subscription would be let in (it tried every 30 s, for ever).
    if (current.connection.sessionEnded() || endsSession(reason)) {
      leave().connection.close();
      show('session', `Signed out: ${describeError(reason)}`);
      return;
    }
    current.interrupted = describeError(reason);
    show('updates', `Interrupted (${current.interrupted}): subscribing again…`);
    // No pause for an expired token, which a new connection mends, however often it expires.
    const expired = refused || current.connection.closedAtExpiry();
    const next = expired || Date.now() - started > MAX_PAUSE_MS ? 1000 : Math.min(pause * 2, MAX_PAUSE_MS);
    setTimeout(
      () => {
        if (session !== current) return;
        watchPayments(current, next);
        if (byId('account').hasChildNodes()) run(showAccount);
      },
      expired ? 0 : pause,
    );
  };
  current.updates = current.connection.client.subscribe({ query: PAYMENT_UPDATES }).subscribe({
    next: ({ data: event, error }) => {
      if (event) byId('events').prepend(paymentEvent(event));
      lastError = error;
      show('updates', ...(error ? [describeError(error)] : []));
    },
    error: (reason: unknown) => void resume(reason),
    complete: () => void resume(lastError ?? new Error('the gateway ended the subscription')),
  });
}

/** Empties what the page shows of a signed-in user, for the next one (the last one's account, payments and events stayed beside the new name). */
function clearShown(): void {
  for (const id of ['account', 'payment', 'updates', 'events', 'refunded', 'user-list']) show(id);
}

onSubmit('sign-in', async ({ email = '', password = '' }) => {
  // With the credentials given, and no one's token: a wrong password is refused once, not again after a refresh.
  const { data } = await session.connection.client.mutate({ mutation: SIGN_IN, variables: { input: { email, password } }, context: { ownCredentials: true } });
  if (!data) return;
  const previous = leave();
  const { accessToken, refreshToken, user } = data.login;
  const current: typeof session = { connection: connect(gatewayUrl, { accessToken, refreshToken }), role: user.role };
  session = current;
  current.connection.onConnected((wasRetry) => {
    if (session !== current) return;
    // Subscribed again after an interruption: it said "subscribing again…" until the next event.
    if (current.interrupted) show('updates', `Subscribed again after: ${current.interrupted}`);
    current.interrupted = undefined;
    // graphql-ws connected again by itself (a gateway restarted within its retries): the subscription
    // goes on, but what happened meanwhile was not sent.
    if (wasRetry && byId('account').hasChildNodes()) run(showAccount);
  });
  watchPayments(current);
  // The last user's sign-in ends too: it stayed live, its refresh token good for days, on a shared computer.
  show('session', 'Signing in…');
  try {
    await endSignIn(previous);
  } finally {
    // Unless someone else has signed in, or out, meanwhile.
    if (session === current) show('session', `Signed in as ${user.email} (${user.role}).`);
  }
});

/** Forgets who is signed in (the page is anonymous after it), and returns their session for `endSignIn`. */
function leave(): typeof session {
  const previous = session;
  previous.updates?.unsubscribe();
  session = { connection: connect(gatewayUrl) };
  clearShown();
  return previous;
}

/** Ends a session's sign-in at auth, saying so if the gateway could not be told (the page has forgotten its tokens anyway). */
async function endSignIn(ended: typeof session): Promise<void> {
  await ended.connection.signOut().catch((error: unknown) => {
    throw new Error(`The sign-in could not be ended at the gateway (its tokens work until they expire): ${unreachable(error) ?? describeError(error)}`);
  });
}

byId('sign-out').addEventListener('click', () =>
  run(async () => {
    const ended = leave();
    const anonymous = session;
    show('session', 'Signing out…');
    try {
      await endSignIn(ended);
    } finally {
      if (session === anonymous) show('session', 'Not signed in.');
    }
  }),
);

/**
 * Shows the signed-in user's account, as its four subgraphs answer now: what those that answered gave,
 * and the error of any that did not (the whole answer was thrown away for one subgraph's error, and the
 * last account shown stayed beside it).
 */
async function showAccount(): Promise<void> {
  await forSession(
    (current) =>
      current.connection.client.query({ query: MY_ACCOUNT, variables: { isAdmin: current.role === 'ADMIN' }, fetchPolicy: 'network-only', errorPolicy: 'all' }),
    ({ data, error }) => {
      if (data?.me) show('account', account(data.me));
      else show('account', ...(error ? [] : ['Sign in first: `me` is null without a token.']));
      // Apollo Client 4 gives errors as Error objects (CombinedGraphQLErrors for the GraphQL ones), typed as ErrorLike.
      if (error) throw error as Error;
    },
  );
}

/**
 * Sends `request` for whoever is signed in now and passes its answer to `use`; drops the answer, or the
 * error, once that sign-in has ended (Sign out, another user): the last user's account was shown on the
 * signed-out page, and the error of a request its closed client gave up on.
 */
async function forSession<T>(request: (current: typeof session) => Promise<T>, use: (answer: T) => void): Promise<void> {
  const current = session;
  try {
    const answer = await request(current);
    if (session === current) use(answer);
  } catch (error) {
    if (session === current) throw error;
  }
}

byId('my-account').addEventListener('click', () => run(showAccount));

onSubmit('pay', ({ amount = '', currency = '', description = '' }, form) =>
  forSession(
    (current) =>
      current.connection.client.mutate({
        mutation: CREATE_PAYMENT,
        variables: { input: { amount, currency, description, paymentMethodToken: 'tok_visa' }, idempotencyKey: intentKey(form) },
      }),
    ({ data }) => {
      if (!data) return;
      intents.delete(form);
      const { id, amount: paid, currency: paidIn, status } = data.createPayment;
      show('payment', `Payment ${id}: ${paid} ${paidIn} ${status}`);
      const refund = byId<HTMLFormElement>('refund');
      (refund.elements.namedItem('paymentId') as HTMLInputElement).value = id;
      // Set here, not typed: no input event tells its key that it asks for another refund now.
      intents.delete(refund);
    },
  ),
);

onSubmit('refund', ({ paymentId = '', amount = '' }, form) =>
  forSession(
    (current) => current.connection.client.mutate({ mutation: REFUND_PAYMENT, variables: { input: { paymentId, amount }, idempotencyKey: intentKey(form) } }),
    ({ data }) => {
      if (!data) return;
      intents.delete(form);
      show('refunded', `Refund ${data.refundPayment.id}: ${data.refundPayment.amount} of payment ${paymentId}`);
    },
  ),
);

byId('users').addEventListener('click', () =>
  run(() =>
    forSession(
      (current) => current.connection.client.query({ query: ADMIN_USERS, fetchPolicy: 'network-only' }),
      ({ data }) => data && show('user-list', users(data.users)),
    ),
  ),
);
