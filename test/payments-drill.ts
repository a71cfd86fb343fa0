import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { queryAt } from '@fedstack/shared-db/testing';
import { pay, type SignedIn } from './clients';

/**
 * What the database drills of issue 24 share (test/failover.test.ts, with a standby; test/database-restart.test.ts,
 * without): steady `createPayment` load, how long it was refused, the check that every acknowledged payment is
 * stored exactly once, and the check that the payment recovery worker resumes.
 */

/**
 * The stack's background work retrying within a second: the outbox relays, and the recovery worker on
 * payments over a second old. Calls between services time out in 2 s rather than 5: an outbox row whose
 * delivery was cut off by the outage, its outcome unrecorded, is claimed again twice that long after.
 */
export const DRILL_SETTINGS: NodeJS.ProcessEnv = {
  OUTBOX_POLL_MS: '200',
  OUTBOX_MAX_BACKOFF_MS: '500',
  INTERNAL_TIMEOUT_MS: '2000',
  PAYMENTS_RECOVERY_AFTER_MS: '1000',
  PAYMENTS_RECOVERY_POLL_MS: '500',
  PAYMENTS_RECOVERY_MAX_BACKOFF_MS: '1000',
};

/** A payment the client saw acknowledged: its id, the idempotency key it was asked for with, and when the answer came. */
export interface Acknowledged {
  id: string;
  key: string;
  at: number;
}

/** A `createPayment` that was refused (or got no answer): when it was asked for, when it failed, and the error. */
export interface Refusal {
  sent: number;
  at: number;
  code: unknown;
  message: string;
}

export type PaymentLoad = ReturnType<typeof paymentLoad>;

/**
 * Each client of a drill's load waits 50 ms after an answer before its next request: steady load, as
 * clients send it, rather than as fast as the stack answers. Unpaced, three payers made about 2,000
 * payments in a 20-second drill, most of the test's CPU, when 20 on each side of the outage are all it
 * checks; paced, the three payers still send a payment about every 20 ms between them, fine enough to
 * time an outage of a few hundred milliseconds.
 */
export const pace = () => sleep(50);

/**
 * Payments made in turn by each user, each with a key of its own, one at each `pace()` after the
 * last answer, until stopped: which were acknowledged and which refused, and when.
 */
export function paymentLoad(url: string, payers: SignedIn[], label: string) {
  let stopped = false;
  const acknowledged: (Acknowledged & { sent: number })[] = [];
  const refused: Refusal[] = [];
  const loops = payers.map(async (payer) => {
    while (!stopped) {
      const key = `${label}-${randomUUID()}`;
      const sent = Date.now();
      const answer = await pay(url, payer, '3.00', key).catch((error: Error) => error);
      const payment = answer instanceof Error ? undefined : answer.data?.createPayment;
      const [error] = answer instanceof Error ? [{ message: answer.message, extensions: { code: 'NO_ANSWER' } }] : (answer.errors ?? []);
      if (payment && !error) acknowledged.push({ id: payment.id, key, sent, at: Date.now() });
      else refused.push({ sent, at: Date.now(), code: error?.extensions?.code, message: error?.message ?? 'neither a payment nor an error' });
      await pace();
    }
  });
  const entries = (list: (Acknowledged & { sent: number })[]) => list.map(({ id, key, at }) => ({ id, key, at }));
  return {
    acknowledged: () => entries(acknowledged),
    acknowledgedSince: (since: number) => entries(acknowledged.filter((entry) => entry.at > since)),
    refusals: () => [...refused],
    /**
     * How long writes were refused after `since`: from the first refusal to the first acknowledgement of a
     * payment asked for after it (one already under way then may still be acknowledged). Nothing if
     * none was refused; `to` and `ms` NaN if none was acknowledged afterwards.
     */
    writeRefusal(since: number): { from: number; to: number; ms: number } | undefined {
      const first = refused.find((entry) => entry.at > since);
      if (!first) return undefined;
      const to = acknowledged.find((entry) => entry.sent >= first.at)?.at ?? Number.NaN;
      return { from: first.at, to, ms: to - first.at };
    },
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

/** Prints how long writes were refused after `since` (`<drill>: writes refused for … ms; …`) and returns it: 0 if none was. */
export function reportWriteRefusal(drill: string, load: PaymentLoad, since: number): number {
  const ms = load.writeRefusal(since)?.ms ?? 0;
  console.log(`${drill}: writes refused for ${ms} ms; ${load.acknowledged().length} payments acknowledged, ${load.refusals().length} refused`);
  return ms;
}

/**
 * Every acknowledged payment stored exactly once (`paymentsUrl`: the owner's connection to payments'
 * database): acknowledged once, its key claimed once and for it, and its row there.
 */
export async function expectStoredOnce(paymentsUrl: string, acknowledged: Acknowledged[]): Promise<void> {
  expect(new Set(acknowledged.map((payment) => payment.id)).size).toBe(acknowledged.length);
  const stored = await queryAt<{ key: string; id: string; rows: number }>(
    paymentsUrl,
    `SELECT record.key, record.payment_id::text AS id, (SELECT count(*)::int FROM payments.payments WHERE id = record.payment_id) AS rows
     FROM payments.idempotency_records record WHERE record.operation = 'createPayment' AND record.key = ANY($1::text[])`,
    [acknowledged.map((payment) => payment.key)],
  );
  const byKey = (a: { key: string }, b: { key: string }) => a.key.localeCompare(b.key);
  expect(stored.sort(byKey)).toEqual(acknowledged.map(({ id, key }) => ({ key, id, rows: 1 })).sort(byKey));
}

/**
 * What a `createPayment` cut off between recording its payment and settling it leaves (its process or
 * its database gone): the key claimed and the payment PENDING with its token. Made just before the
 * database goes, it is younger than `PAYMENTS_RECOVERY_AFTER_MS`, so only a recovery worker that resumes
 * afterwards can settle it. Returns its id.
 */
export async function leavePendingPayment(paymentsUrl: string, userId: string): Promise<string> {
  const [left] = await queryAt<{ id: string }>(
    paymentsUrl,
    `WITH claim AS (
       INSERT INTO payments.idempotency_records (user_id, operation, key, request_hash, payment_id)
       VALUES ($1::uuid, 'createPayment', $2, 'left pending by a drill', $3::uuid) RETURNING payment_id)
     INSERT INTO payments.payments (id, user_id, amount, currency, status, method_last4, pending_token)
     SELECT payment_id, $1::uuid, 4.00, 'EUR', 'PENDING', 'visa', 'tok_visa' FROM claim RETURNING id::text`,
    [userId, `left-pending-${randomUUID()}`, randomUUID()],
  );
  return (left as { id: string }).id;
}

/**
 * The payment recovery worker resumed: waits (with `until`) until no payment made since `since` is left
 * PENDING, including any whose request died with the database, then checks that `leftPending` (from
 * `leavePendingPayment`) was settled by the worker after `outageAt`.
 */
export async function expectRecovered(
  until: (condition: () => Promise<boolean>) => Promise<unknown>,
  paymentsUrl: string,
  { since, leftPending, outageAt }: { since: Date; leftPending: string | undefined; outageAt: Date },
): Promise<void> {
  await until(async () => (await queryAt(paymentsUrl, "SELECT 1 FROM payments.payments WHERE status = 'PENDING' AND created_at >= $1", [since])).length === 0);
  expect(
    await queryAt(
      paymentsUrl,
      'SELECT status::text, charge_attempts > 0 AS "byWorker", updated_at > $2 AS "afterOutage" FROM payments.payments WHERE id = $1::uuid',
      [leftPending, outageAt],
    ),
  ).toEqual([{ status: 'SUCCEEDED', byWorker: true, afterOutage: true }]);
}
