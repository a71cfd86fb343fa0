// The recovery worker: payments left PENDING by a crash between recording and settling, finished or parked.
import type { Logger, ServiceMetrics } from '@fedstack/runtime';
import type { PaymentRecord, PreparedStatement, ServiceClient } from '@fedstack/shared-db';
import { WorkQueue, type JobStore } from '@fedstack/service-kit';
import type { PaymentProcessor } from './processor';
import { PAYMENT_COLUMNS, toPaymentRecord, type PaymentRow } from './rows';
import { chargeAndSettle } from './settlement';

type PaymentsDb = ServiceClient<'payments'>;

export interface RecoverySettings {
  /** How often the worker looks for payments to finish. */
  pollMs: number;
  /** How old a PENDING payment must be before the worker takes it (a request may still be charging a younger one). */
  afterMs: number;
  /** The longest wait between two attempts at one payment. */
  maxBackoffMs: number;
  /** Attempts after which a payment the worker cannot finish is parked for an operator. */
  maxAttempts: number;
  /** How long one charge may take before it is given up and tried again later (PAYMENTS_PROCESSOR_TIMEOUT_MS). */
  chargeTimeoutMs: number;
}
/** Payments one process charges at once. */
const CONCURRENCY = 4;

/** A PENDING payment the worker has claimed, with its attempts so far. */
type PendingCharge = PaymentRecord & { attempts: number };

/**
 * Claims due payments: PENDING with their token, not parked, older than `afterMs`, not claimed by
 * another worker, not in this one's hands. A claim pushes the next attempt out by the claim's time (twice
 * a charge's time limit, after which the charge has been given up), so two workers never charge one payment
 * at once, and counts the attempt.
 */
const CLAIM: PreparedStatement = {
  name: 'claim_pending_charges',
  text: `UPDATE payments.payments SET next_charge_at = now() + $3::int * interval '1 millisecond', charge_attempts = charge_attempts + 1
         WHERE id IN (
           SELECT id FROM payments.payments
           WHERE status = 'PENDING' AND pending_token IS NOT NULL AND charge_parked_at IS NULL
             AND created_at < now() - $1::int * interval '1 millisecond'
             AND (next_charge_at IS NULL OR next_charge_at <= now()) AND id <> ALL($4::uuid[])
           ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING ${PAYMENT_COLUMNS}`,
};
const RETRY: PreparedStatement = {
  name: 'retry_pending_charge',
  text: `UPDATE payments.payments SET next_charge_at = now() + $2::int * interval '1 millisecond', charge_error = $3
         WHERE id = $1::uuid AND status = 'PENDING'`,
};
const PARK: PreparedStatement = {
  name: 'park_pending_charge',
  text: `UPDATE payments.payments SET charge_parked_at = now(), charge_error = $2 WHERE id = $1::uuid AND status = 'PENDING'`,
};
const COUNT: PreparedStatement = {
  name: 'count_pending_charges',
  text: `SELECT count(*) FILTER (WHERE charge_parked_at IS NULL)::int AS pending, count(*) FILTER (WHERE charge_parked_at IS NOT NULL)::int AS parked
         FROM payments.payments WHERE status = 'PENDING' AND pending_token IS NOT NULL`,
};

function pendingCharges(db: PaymentsDb, afterMs: number, claimMs: number): JobStore<PendingCharge> {
  return {
    async claim(room, inHand) {
      const rows = await db.sql<PaymentRow>(CLAIM, [afterMs, room, claimMs, inHand.map((payment) => payment.id)]);
      return rows.map((row) => ({ ...toPaymentRecord(row), attempts: row.chargeAttempts }));
    },
    // Settling the payment was the job: nothing is left to mark.
    complete: async () => undefined,
    async retry(payment, delayMs, reason) {
      await db.sql(RETRY, [payment.id, delayMs, reason]);
    },
    async park(payment, reason) {
      await db.sql(PARK, [payment.id, reason]);
    },
    async count() {
      const [counts] = await db.sql<{ pending: number; parked: number }>(COUNT, []);
      return counts ?? { pending: 0, parked: 0 };
    },
  };
}

/**
 * Finishes payments left PENDING by a crash between recording and settling, under the same processor
 * key (the payment's id), so the processor charges once. A processor that cannot be reached is tried
 * again with a growing wait; after `maxAttempts` the payment is parked, logged as an error and counted in
 * `background_jobs{worker="payment-recovery",state="parked"}` (docs/operations.md says what to do).
 */
export function pendingPaymentRecovery(
  db: PaymentsDb,
  processor: PaymentProcessor,
  settings: RecoverySettings,
  context: { logger: Logger; metrics: ServiceMetrics },
): WorkQueue<PendingCharge> {
  return new WorkQueue<PendingCharge>({
    name: 'payment-recovery',
    store: pendingCharges(db, settings.afterMs, 2 * settings.chargeTimeoutMs),
    async handle(payment) {
      const deadline = AbortSignal.timeout(settings.chargeTimeoutMs);
      const settled = await chargeAndSettle(db, processor, payment, deadline).catch((error: unknown) => {
        // The processor's giving up on the deadline, said so; anything else (a failure to record it) as it is.
        const gaveUp = deadline.aborted && ['AbortError', 'TimeoutError'].includes((error as Error).name);
        throw gaveUp ? new Error(`the processor did not answer within ${settings.chargeTimeoutMs} ms`) : error;
      });
      context.logger.info({ paymentId: payment.id, status: settled.status }, 'pending payment finished after an interruption');
    },
    describe: (payment) => ({ paymentId: payment.id }),
    pollMs: settings.pollMs,
    baseBackoffMs: settings.pollMs,
    maxBackoffMs: settings.maxBackoffMs,
    maxAttempts: settings.maxAttempts,
    concurrency: CONCURRENCY,
    logger: context.logger,
    registry: context.metrics.registry,
  });
}
