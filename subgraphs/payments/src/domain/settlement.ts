// Settling a PENDING payment: the charge at the processor under the payment's own key, and its outcome recorded.
import { AppError, ErrorCode } from '@fedstack/runtime';
import type { PaymentRecord, PreparedStatement, ServiceClient } from '@fedstack/shared-db';
import { DECLINING_TOKENS, type PaymentProcessor } from './processor';
import { PAYMENT_BY_ID, PAYMENT_COLUMNS, toPaymentRecord, type PaymentRow } from './rows';

/** The answer a declined payment gets, the first time and on every retry with its key. */
export function paymentDeclined(payment: PaymentRecord): AppError {
  const reason = Object.values(DECLINING_TOKENS).find((decline) => decline.code === payment.declineCode);
  return new AppError(ErrorCode.PAYMENT_DECLINED, `Payment declined: ${reason?.message ?? payment.declineCode ?? 'declined'}`, {
    paymentId: payment.id,
    declineCode: payment.declineCode,
  });
}

/**
 * Records a charge's outcome on a payment still PENDING (and a decline's error code on its key, for
 * retries), in one statement; nothing if someone settled it meanwhile. The key is found among its user's
 * records (the unique index's leading columns): nothing indexes records by payment, and a scan of every
 * user's would grow with the table while the payment's row is locked.
 */
const SETTLE: PreparedStatement = {
  name: 'settle_payment',
  text: `WITH settled AS (
           UPDATE payments.payments
           SET status = $2::text::payments."PaymentStatus", processor_ref = $3, decline_code = $4, pending_token = NULL,
               next_charge_at = NULL, updated_at = now()
           WHERE id = $1::uuid AND status = 'PENDING'
           RETURNING *),
         declined AS (
           UPDATE payments.idempotency_records SET error_code = $5
           WHERE $5::text IS NOT NULL AND payment_id = $1::uuid
             AND user_id = (SELECT user_id FROM settled) AND operation = 'createPayment')
         SELECT ${PAYMENT_COLUMNS} FROM settled`,
};

/**
 * Charges a PENDING payment under its processor key and records the outcome, unless someone (the
 * client's retry, the recovery worker) settled it meanwhile: then theirs stands. The processor's
 * idempotency makes the second charge of a payment the first one again.
 */
export async function chargeAndSettle(
  db: ServiceClient<'payments'>,
  processor: PaymentProcessor,
  payment: PaymentRecord,
  signal?: AbortSignal,
): Promise<PaymentRecord> {
  const charge = await processor.charge({
    amount: payment.amount.toFixed(),
    currency: payment.currency,
    paymentMethodToken: payment.pendingToken as string,
    // One payment row per client key: its id is the charge's key at the processor, whoever retries.
    idempotencyKey: payment.id,
    ...(signal && { signal }),
  });
  const [settled] = await db.sql<PaymentRow>(SETTLE, [
    payment.id,
    charge.approved ? 'SUCCEEDED' : 'FAILED',
    charge.approved ? charge.reference : null,
    charge.approved ? null : charge.declineCode,
    charge.approved ? null : ErrorCode.PAYMENT_DECLINED,
  ]);
  const [current] = settled ? [settled] : await db.sql<PaymentRow>(PAYMENT_BY_ID, [payment.id]);
  if (!current) throw new Error(`payment ${payment.id} is gone`);
  return toPaymentRecord(current);
}
