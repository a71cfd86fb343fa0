// A payment as the statements that bypass Prisma read it back, and as the rest of the code holds it.
import { Decimal, type PaymentRecord, type PreparedStatement } from '@fedstack/shared-db';

/** A payments row under the Prisma model's field names (node-postgres gives numeric as text). */
export type PaymentRow = Omit<PaymentRecord, 'amount' | 'refundedAmount'> & { amount: string; refundedAmount: string };

/** A row as the code holds it: amounts as exact decimals. */
export const toPaymentRecord = (row: PaymentRow): PaymentRecord => ({
  ...row,
  amount: new Decimal(row.amount),
  refundedAmount: new Decimal(row.refundedAmount),
});

/** Every column of a payment under the model's field names, for statements that return whole payments. */
export const PAYMENT_COLUMNS = `id, user_id AS "userId", amount, currency, status::text AS status, description, refunded_amount AS "refundedAmount",
  method_last4 AS "methodLast4", processor_ref AS "processorRef", decline_code AS "declineCode", created_at AS "createdAt",
  updated_at AS "updatedAt", anonymised_at AS "anonymisedAt", pending_token AS "pendingToken", charge_attempts AS "chargeAttempts",
  next_charge_at AS "nextChargeAt", charge_parked_at AS "chargeParkedAt", charge_error AS "chargeError"`;

export const PAYMENT_BY_ID: PreparedStatement = { name: 'payment_by_id', text: `SELECT ${PAYMENT_COLUMNS} FROM payments.payments WHERE id = $1::uuid` };
