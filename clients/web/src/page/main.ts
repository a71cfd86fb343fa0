// The example page's script: sign in, then the README's tour (my account, pay, payment updates, refund, users) through Apollo Client.
import type { Subscription } from 'rxjs';
import { connect, type Connection } from './apollo';
import { ADMIN_USERS, CREATE_PAYMENT, MY_ACCOUNT, PAYMENT_UPDATES, REFUND_PAYMENT, SIGN_IN } from './operations';
import { account, byId, describeError, paymentEvent, show, users } from './view';

const gatewayUrl = document.querySelector<HTMLMetaElement>('meta[name="gateway-url"]')?.content ?? '';

/** Who is signed in, and their connection; anonymous until someone signs in. */
let session: { connection: Connection; role?: string; updates?: Subscription } = { connection: connect(gatewayUrl) };

/** Runs what a button does, showing its error if it fails. */
function run(action: () => Promise<void>): void {
  show('error');
  action().catch((error: unknown) => show('error', describeError(error)));
}

/** A form's fields by name. */
function fields(form: HTMLFormElement): Record<string, string> {
  return Object.fromEntries([...new FormData(form)].flatMap(([name, value]) => (typeof value === 'string' ? [[name, value]] : [])));
}

/** Calls `action` with the form's fields when it is submitted. */
function onSubmit(id: string, action: (values: Record<string, string>) => Promise<void>): void {
  byId<HTMLFormElement>(id).addEventListener('submit', (event) => {
    event.preventDefault();
    run(() => action(fields(event.target as HTMLFormElement)));
  });
}

onSubmit('sign-in', async ({ email = '', password = '' }) => {
  const { data } = await session.connection.client.mutate({ mutation: SIGN_IN, variables: { input: { email, password } } });
  if (!data) return;
  session.updates?.unsubscribe();
  session.connection.close();
  const connection = connect(gatewayUrl, data.login.accessToken);
  // Every change to this user's payments, as it commits.
  const updates = connection.client.subscribe({ query: PAYMENT_UPDATES }).subscribe({
    next: ({ data: event, error }) => {
      if (event) byId('events').prepend(paymentEvent(event));
      if (error) show('error', describeError(error));
    },
    error: (error: unknown) => show('error', describeError(error)),
  });
  session = { connection, role: data.login.user.role, updates };
  show('session', `Signed in as ${data.login.user.email} (${data.login.user.role}).`);
});

byId('my-account').addEventListener('click', () =>
  run(async () => {
    const { data } = await session.connection.client.query({
      query: MY_ACCOUNT,
      variables: { isAdmin: session.role === 'ADMIN' },
      fetchPolicy: 'network-only',
    });
    show('account', data?.me ? account(data.me) : 'Sign in first: `me` is null without a token.');
  }),
);

onSubmit('pay', async ({ amount = '', currency = '', description = '' }) => {
  const { data } = await session.connection.client.mutate({
    mutation: CREATE_PAYMENT,
    variables: { input: { amount, currency, description, paymentMethodToken: 'tok_visa' }, idempotencyKey: crypto.randomUUID() },
  });
  if (!data) return;
  const { id, amount: paid, currency: paidIn, status } = data.createPayment;
  show('payment', `Payment ${id}: ${paid} ${paidIn} ${status}`);
  (byId<HTMLFormElement>('refund').elements.namedItem('paymentId') as HTMLInputElement).value = id;
});

onSubmit('refund', async ({ paymentId = '', amount = '' }) => {
  const { data } = await session.connection.client.mutate({
    mutation: REFUND_PAYMENT,
    variables: { input: { paymentId, amount }, idempotencyKey: crypto.randomUUID() },
  });
  if (data) show('refunded', `Refund ${data.refundPayment.id}: ${data.refundPayment.amount} of payment ${paymentId}`);
});

byId('users').addEventListener('click', () =>
  run(async () => {
    const { data } = await session.connection.client.query({ query: ADMIN_USERS, fetchPolicy: 'network-only' });
    if (data) show('user-list', users(data.users));
  }),
);
