// paymentUpdated: which committed payment changes a subscriber follows, and for how long they may.
import { forbidden, notFound } from '@fedstack/runtime';
import type { PaymentRecord, ServiceClient } from '@fedstack/shared-db';
import { liveEvents, singleFlight, type LiveFeed, type Viewer } from '@fedstack/service-kit';
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
 * A payment as it is now, for an event about it (a prepared statement): the subscriptions the event
 * reaches at once share one read.
 */
export function currentPayment(db: ServiceClient<'payments'>, id: string): Promise<PaymentRecord> {
  return reading(id, async () => {
    const [row] = await db.sql<PaymentRow>(PAYMENT_BY_ID, [id]);
    if (!row) throw new Error(`payment ${id} announced a change but is gone`);
    return toPaymentRecord(row);
  });
}
