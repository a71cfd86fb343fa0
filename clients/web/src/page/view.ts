// How the page shows each answer: plain elements whose data-* attributes say what they hold.
import { CombinedGraphQLErrors } from '@apollo/client';
import type { AdminUsersQuery, MyAccountQuery, PaymentUpdatesSubscription } from './generated/graphql';

type Child = Node | string;

/** An element with attributes and children. */
function element(tag: string, attributes: Record<string, string>, ...children: Child[]): HTMLElement {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/** The element with this id, which the page is known to have. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page has no #${id}`);
  return node as T;
}

/** Replaces what `#id` shows. */
export function show(id: string, ...children: Child[]): void {
  byId(id).replaceChildren(...children);
}

/** An error as a reader can act on it: each GraphQL error's code and message, or the network's. */
export function describeError(error: unknown): string {
  if (CombinedGraphQLErrors.is(error)) {
    return error.errors.map((each) => `${typeof each.extensions?.code === 'string' ? each.extensions.code : 'ERROR'}: ${each.message}`).join('\n');
  }
  return error instanceof Error ? error.message : String(error);
}

type Payment = { amount: string; currency: string; status: string };
const payment = ({ amount, currency, status }: Payment) => `${amount} ${currency} ${status}`;
const list = (items: string[]) => (items.length ? items.join(', ') : 'none');

/** My account, one line per subgraph that answered it. */
export function account(me: NonNullable<MyAccountQuery['me']>): HTMLElement {
  const line = (from: string, text: string) => [element('dt', {}, from), element('dd', { 'data-from': from }, text)];
  const payments = me.payments?.edges.map((edge) => payment(edge.node)) ?? [];
  const totals = me.paymentTotals?.map((total) => `${total.amount} ${total.currency}`) ?? [];
  return element(
    'dl',
    {},
    ...line('auth', `${me.email}, ${me.role}`),
    ...line('profile', `${me.profile?.displayName ?? '(no name)'}, ${me.profile?.locale ?? '(no locale)'}`),
    // Null only when payments could not answer (a user with no payments has an empty page of them).
    ...line('payments', me.payments ? `latest: ${list(payments)}; totals: ${list(totals)}` : 'unavailable now'),
    ...line(
      'admin',
      me.auditTrail ? `audit trail: ${list(me.auditTrail.edges.map((edge) => `${edge.node.action} ${edge.node.createdAt}`))}` : 'audit trail: for admins only',
    ),
  );
}

/** One payment event from the subscription. */
export function paymentEvent({ paymentUpdated: updated }: PaymentUpdatesSubscription): HTMLElement {
  const refunded = Number(updated.refundedAmount) > 0 ? `, ${updated.refundedAmount} refunded` : '';
  const who = `${updated.user.email} (${updated.user.profile?.displayName ?? 'no name'})`;
  return element('li', { 'data-id': updated.id, 'data-status': updated.status }, `${updated.id}: ${payment(updated)}${refunded}, by ${who}`);
}

/** The admin's list of users, a row each, a column per subgraph. */
export function users(connection: AdminUsersQuery['users']): HTMLElement {
  const cell = (text: string) => element('td', {}, text);
  const rows = connection.edges.map(({ node: user }) =>
    element(
      'tr',
      { 'data-email': user.email },
      cell(`${user.email} ${user.status}`),
      cell(user.profile?.displayName ?? ''),
      cell(list(user.payments?.edges.map((edge) => `${payment(edge.node)} (${edge.node.refundedAmount} refunded)`) ?? [])),
      cell(list(user.auditTrail?.edges.map((edge) => edge.node.action) ?? [])),
    ),
  );
  const head = element('tr', {}, ...['user (auth)', 'profile', 'payments', 'audit trail (admin)'].map((title) => element('th', {}, title)));
  return element('table', {}, head, ...rows);
}
