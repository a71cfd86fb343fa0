// refundPayment: part or all of a payment given back, never more than was paid, with its audit entry.
import { badUserInput, conflict, notFound } from '@fedstack/runtime';
import type { Decimal, PaymentStatus, RefundRecord, ServiceClient } from '@fedstack/shared-db';
import { formatAmount, isUuid, parseDecimal, recordAudit } from '@fedstack/service-kit';
import { DESCRIPTION_MAX } from './create';
import { assertIdempotencyKey, claimIdempotencyKey, fingerprint, KEYED_TRANSACTION } from './idempotency';
import { optionalText, parseAmount } from './money';

/** A refund with its payment's currency, which its amount is formatted in. */
export type RefundWithCurrency = RefundRecord & { currency: string };

export interface RefundRequest {
  paymentId: string;
  amount: string;
  reason?: string | null;
}

interface LockedPayment {
  id: string;
  amount: Decimal;
  refunded_amount: Decimal;
  currency: string;
  status: PaymentStatus;
  anonymised: boolean;
}

/**
 * Refunds part or all of a payment (the caller has checked that an admin asks). The payment row is
 * locked for the whole transaction, so racing refunds are applied one after another and together never
 * exceed the amount (a CHECK constraint backs this up). The refund, the payment's new state and the
 * audit entry (in the outbox, for admin's trail) commit together. A payment whose owner has been erased
 * can still be refunded, but its refund keeps no reason (what an admin wrote about the user), as the
 * erasure would have removed it; the row lock orders the two, so a refund waiting on an erasure sees it.
 */
export async function refundPayment(
  db: ServiceClient<'payments'>,
  admin: { userId: string; requestId: string },
  request: RefundRequest,
  idempotencyKey: string,
): Promise<RefundWithCurrency> {
  assertIdempotencyKey(idempotencyKey);
  if (!isUuid(request.paymentId)) throw badUserInput('input.paymentId', 'must be a UUID');
  const reason = optionalText(request.reason, 'input.reason', DESCRIPTION_MAX);
  const requestHash = fingerprint({
    paymentId: request.paymentId.toLowerCase(),
    amount: parseDecimal(request.amount, 'input.amount').toFixed(),
    reason,
  });

  return db.$transaction(async (tx) => {
    const claim = await claimIdempotencyKey(tx, { userId: admin.userId, operation: 'refundPayment', key: idempotencyKey, requestHash });
    if (claim.kind === 'replay') {
      const refund = await tx.refund.findUniqueOrThrow({ where: { id: claim.refundId as string }, include: { payment: { select: { currency: true } } } });
      const { payment, ...rest } = refund;
      return { ...rest, currency: payment.currency };
    }
    const [payment] = await tx.$queryRaw<LockedPayment[]>`
        SELECT id, amount, refunded_amount, currency, status::text AS status, anonymised_at IS NOT NULL AS anonymised
        FROM payments.payments WHERE id = ${request.paymentId}::uuid FOR UPDATE`;
    if (!payment) throw notFound(`No payment with id ${request.paymentId}`);
    if (payment.status !== 'SUCCEEDED' && payment.status !== 'PARTIALLY_REFUNDED') {
      throw conflict(`Only succeeded payments can be refunded; this one is ${payment.status}`);
    }
    const refundable = payment.amount.minus(payment.refunded_amount);
    const amount = parseAmount(request.amount, payment.currency, 'input.amount', refundable);
    const refundedAfter = payment.refunded_amount.plus(amount);
    const statusAfter: PaymentStatus = refundedAfter.equals(payment.amount) ? 'REFUNDED' : 'PARTIALLY_REFUNDED';
    const refund = await tx.refund.create({
      data: { paymentId: payment.id, amount, reason: payment.anonymised ? null : reason, createdById: admin.userId },
    });
    await tx.payment.update({ where: { id: payment.id }, data: { refundedAmount: refundedAfter, status: statusAfter } });
    await tx.idempotencyRecord.update({ where: { id: claim.recordId }, data: { refundId: refund.id } });
    await recordAudit(tx, 'payments', {
      actorId: admin.userId,
      action: 'payment.refund',
      targetType: 'Payment',
      targetId: payment.id,
      requestId: admin.requestId,
      // Amounts as the API writes them, in the currency's format.
      payload: {
        refundId: refund.id,
        amount: formatAmount(amount, payment.currency),
        currency: payment.currency,
        before: { status: payment.status, refundedAmount: formatAmount(payment.refunded_amount, payment.currency) },
        after: { status: statusAfter, refundedAmount: formatAmount(refundedAfter, payment.currency) },
      },
    });
    return { ...refund, currency: payment.currency };
  }, KEYED_TRANSACTION);
}
