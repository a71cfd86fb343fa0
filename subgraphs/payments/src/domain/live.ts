// paymentUpdated: which committed payment changes a subscriber follows, and for how long they may.
import { forbidden, notFound } from '@fedstack/runtime';
import type { PaymentRecord, ServiceClient } from '@fedstack/shared-db';
import { UnconfirmedEvent, canonicalId, liveEvents, singleFlight, type LiveFeed, type RowEvent, type Viewer } from '@fedstack/service-kit';
import { PAYMENT_BY_ID, toPaymentRecord, type PaymentRow } from './rows';

/** The channel payments.payments' trigger announces every visible change on (migration 20261209100000_subscription_events). */
export const PAYMENT_CHANGED = 'payments_payment_changed';

/** Every change to the subscriber's own payments (admins' too: their own). */
export function ownPaymentUpdates(viewer: Viewer): LiveFeed {
  const userId = viewer.userId.toLowerCase();
  return liveEvents(PAYMENT_CHANGED, { accepts: (event) => event.userId?.toLowerCase() === userId, only: { userId } });
}

/**
 * Every change to one payment, for its owner or an admin: anyone else is told it does not exist, as
 * payment(id) tells them (NOT_FOUND, whether it exists or not). A subscriber who stops being either (an
 * admin demoted) is refused from then on.
 */
export function paymentUpdates(viewer: Viewer, id: string, payment: PaymentRecord | null): LiveFeed {
  if (!payment || (payment.userId !== viewer.userId && viewer.role !== 'ADMIN')) throw notFound(`No payment with id ${id}`);
  return liveEvents(PAYMENT_CHANGED, {
    accepts: (event) => event.id === payment.id,
    only: { id: payment.id },
    authorize(now) {
      if (now.userId !== payment.userId && now.role !== 'ADMIN') throw forbidden("Only the payment's owner and admins can follow it");
    },
  });
}

const reading = singleFlight<PaymentRecord>();

/**
 * The payment an event is about, as it is now (a prepared statement): the subscriptions the event
 * reaches at once share one read. `follower` is the subscriber of `ownPaymentUpdates`, whose events the
 * hub routes by the owner the notification names: the payment must be theirs, or the event is dropped
 * (a notification proves nothing: UnconfirmedEvent). Events of `paymentUpdates` are routed by the
 * payment's id, read here.
 */
export async function currentPayment(db: ServiceClient<'payments'>, event: RowEvent, follower?: Viewer): Promise<PaymentRecord> {
  const { id } = event;
  const payment = await reading(event, async () => {
    const [row] = await db.sql<PaymentRow>(PAYMENT_BY_ID, [id]);
    if (!row) throw new UnconfirmedEvent(`payment ${id} was announced but is not there`);
    return toPaymentRecord(row);
  });
  if (follower && canonicalId(payment.userId) !== canonicalId(follower.userId))
    throw new UnconfirmedEvent(`payment ${id} was announced as a change to another user's payments`);
  return payment;
}
