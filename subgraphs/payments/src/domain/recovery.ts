// The recovery worker: payments left PENDING by a crash between recording and settling, finished.
import type { ServiceClient } from '@fedstack/shared-db';
import type { BackgroundWorker } from '@fedstack/service-kit';
import type { PaymentProcessor } from './processor';
import { chargeAndSettle } from './settlement';

type PaymentsDb = ServiceClient<'payments'>;

/**
 * Finishes payments left PENDING by a crash between recording and settling: those older than
 * `afterMs` (a request may still be charging younger ones), a few at a time, each claimed for a while
 * so that two workers never charge one at once. A processor that cannot be reached is tried again later.
 */
export function pendingPaymentRecovery(
  db: PaymentsDb,
  processor: PaymentProcessor,
  options: { pollMs: number; afterMs: number; logger: { info(object: object, message: string): void; warn(object: object, message: string): void } },
): BackgroundWorker {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const round = async () => {
    const due = await db.$queryRaw<{ id: string }[]>`
      UPDATE payments.payments SET next_charge_at = now() + interval '1 minute', charge_attempts = charge_attempts + 1
      WHERE id IN (
        SELECT id FROM payments.payments
        WHERE status = 'PENDING' AND pending_token IS NOT NULL
          AND created_at < now() - ${options.afterMs}::int * interval '1 millisecond'
          AND (next_charge_at IS NULL OR next_charge_at <= now())
        ORDER BY created_at LIMIT 10 FOR UPDATE SKIP LOCKED)
      RETURNING id`;
    for (const { id } of due) {
      const payment = await db.payment.findUniqueOrThrow({ where: { id } });
      try {
        const settled = await chargeAndSettle(db, processor, payment);
        options.logger.info({ paymentId: id, status: settled.status }, 'pending payment finished after an interruption');
      } catch (error) {
        options.logger.warn({ paymentId: id, err: error }, 'pending payment could not be finished yet; trying again later');
      }
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = round()
        .catch((error: unknown) => options.logger.warn({ err: error }, 'pending payment recovery failed; trying again later'))
        .finally(schedule);
    }, options.pollMs);
    timer.unref();
  };
  return {
    start: schedule,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
