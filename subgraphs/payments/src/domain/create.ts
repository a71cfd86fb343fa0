// createPayment: a charge made once per idempotency key, recorded before it is made.
import { randomUUID } from 'node:crypto';
import type { PaymentRecord, PreparedStatement, ServiceClient } from '@fedstack/shared-db';
import { guardAccountWrite } from '@fedstack/service-kit';
import { assertIdempotencyKey, claimIdempotencyKey, fingerprint, KEYED_TRANSACTION } from './idempotency';
import { optionalText, parseAmount, parseCurrency } from './money';
import { assertTokenFormat, type PaymentProcessor } from './processor';
import { PAYMENT_COLUMNS, toPaymentRecord, type PaymentRow } from './rows';
import { chargeAndSettle, paymentDeclined } from './settlement';

/** The longest description a payment (and reason a refund) may carry, in characters. */
export const DESCRIPTION_MAX = 500;

export interface CreatePaymentRequest {
  amount: string;
  currency: string;
  description?: string | null;
  paymentMethodToken: string;
}

/**
 * Claims the key for the payment and records the payment PENDING, or does nothing if the key is taken.
 * Stamped newer than every payment of the user's before it (a millisecond at least: the column keeps
 * milliseconds), at the insert rather than at the transaction's start: with one creation per user at a
 * time (createPayment's lock), a payment's place in the user's list, newest first, is then the order
 * they commit in, and one committed after a client read a page never lands inside that page's range,
 * where a client paging on would never see it (found in review: five skipped in 1,076 walks).
 */
const CREATE_PENDING: PreparedStatement = {
  name: 'create_pending_payment',
  text: `WITH claim AS (
           INSERT INTO payments.idempotency_records (user_id, operation, key, request_hash, payment_id)
           VALUES ($1::uuid, 'createPayment', $2, $3, $4::uuid)
           ON CONFLICT (user_id, operation, key) DO NOTHING
           RETURNING id)
         INSERT INTO payments.payments (id, user_id, amount, currency, status, description, method_last4, pending_token, created_at)
         SELECT $4::uuid, $1::uuid, $5::numeric, $6, 'PENDING', $7, $8, $9,
                greatest(clock_timestamp(), (SELECT max(created_at) + interval '1 millisecond' FROM payments.payments WHERE user_id = $1::uuid))
         FROM claim
         RETURNING ${PAYMENT_COLUMNS}`,
};

/**
 * Charges `userId` once per idempotency key, in three steps so that no charge goes unrecorded: the
 * payment is recorded PENDING (with the key claimed) and committed; the processor charges it under an
 * idempotency key of its own; the payment is settled, SUCCEEDED or FAILED. A crash between the steps
 * leaves a PENDING payment that the client's retry, or the recovery worker, finishes under the same
 * processor key (the payment's id): the processor charges once. Everything is validated before the first step.
 */
export async function createPayment(
  db: ServiceClient<'payments'>,
  processor: PaymentProcessor,
  userId: string,
  request: CreatePaymentRequest,
  idempotencyKey: string,
): Promise<PaymentRecord> {
  assertIdempotencyKey(idempotencyKey);
  const currency = parseCurrency(request.currency, 'input.currency');
  const amount = parseAmount(request.amount, currency, 'input.amount');
  const description = optionalText(request.description, 'input.description', DESCRIPTION_MAX);
  assertTokenFormat(request.paymentMethodToken, 'input.paymentMethodToken');
  const requestHash = fingerprint({ amount: amount.toFixed(), currency, description, token: request.paymentMethodToken });

  const recorded =
    (await db.sqlTransaction(async (tx) => {
      // One creation per user at a time, for the order of their list (CREATE_PENDING).
      await guardAccountWrite(tx, 'payments', userId, { alone: true });
      // The key's claim and the PENDING payment in one statement; nothing when the key was claimed before.
      const [created] = await tx.sql<PaymentRow>(CREATE_PENDING, [
        userId,
        idempotencyKey,
        requestHash,
        randomUUID(),
        amount.toFixed(),
        currency,
        description,
        request.paymentMethodToken.slice(-4),
        request.paymentMethodToken,
      ]);
      return created && toPaymentRecord(created);
    })) ??
    // The key was used before: its first request's payment, or IDEMPOTENCY_KEY_REUSED (rare, so on Prisma).
    (await db.$transaction(async (tx) => {
      const claim = await claimIdempotencyKey(tx, { userId, operation: 'createPayment', key: idempotencyKey, requestHash });
      if (claim.kind !== 'replay') throw new Error(`idempotency key ${idempotencyKey} was claimed and is not there`);
      return tx.payment.findUniqueOrThrow({ where: { id: claim.paymentId as string } });
    }, KEYED_TRANSACTION));
  const payment = recorded.status === 'PENDING' && recorded.pendingToken ? await chargeAndSettle(db, processor, recorded) : recorded;
  if (payment.status === 'FAILED') throw paymentDeclined(payment);
  return payment;
}
