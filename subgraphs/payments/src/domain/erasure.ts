// payments' part of erasing a user: what identifies them goes, what accounting needs stays, anonymised.
import { assertCallerWaiting } from '@fedstack/runtime';
import { type ErasureChange, type RawExecutor, type RawQuerier } from '@fedstack/service-kit';

const ANONYMISE = 'UPDATE payments.payments SET description = NULL, method_last4 = NULL, anonymised_at = now(), updated_at = now()';

/**
 * Anonymises the user's payments in batches that each commit, ahead of the erasure's transaction (which
 * then has the rest to do): 200,000 payments in that transaction's one statement outlasted admin's wait
 * (5 s) on every attempt and were rolled back each time, so the erasure never finished. Stops once the
 * caller has stopped waiting; what it did stays, and the next attempt goes on from there.
 */
export async function anonymisePaymentsAhead(db: RawExecutor, userId: string, batch = 5_000): Promise<void> {
  for (;;) {
    assertCallerWaiting();
    const rows = await db.$executeRawUnsafe(
      // A payment being charged (locked) is left to the transaction, which waits for it.
      `${ANONYMISE} WHERE id IN (SELECT id FROM payments.payments WHERE user_id = $1::uuid AND anonymised_at IS NULL LIMIT $2 FOR UPDATE SKIP LOCKED)`,
      userId,
      batch,
    );
    if (rows < batch) return;
  }
}

/**
 * payments' part of an erasure (inside the erase command's transaction): payments and refunds stay for
 * accounting, without the payments' description or card digits and the refunds' reasons (what an admin
 * wrote about the user), also as the admins' keys for those refunds kept them: in their requests' hash,
 * unsalted, which a guess of the reason would match; the idempotency records, which hold the client's keys, go. A charge still in
 * flight keeps its token until it settles, which clears it, so that it is finished rather than lost.
 */
export async function erasePayments(tx: RawQuerier, userId: string): Promise<ErasureChange[]> {
  await tx.$executeRawUnsafe(`${ANONYMISE} WHERE user_id = $1::uuid AND anonymised_at IS NULL`, userId);
  // Every payment of the user's, those anonymised ahead (anonymisePaymentsAhead) among them.
  const [anonymised] = await tx.$queryRawUnsafe<{ rows: number }[]>('SELECT count(*)::int AS rows FROM payments.payments WHERE user_id = $1::uuid', userId);
  return [
    { table: 'payments', action: 'anonymised', rows: anonymised?.rows ?? 0 },
    {
      table: 'refunds',
      action: 'anonymised',
      rows: await tx.$executeRawUnsafe(
        `UPDATE payments.refunds SET reason = NULL WHERE reason IS NOT NULL AND payment_id IN (SELECT id FROM payments.payments WHERE user_id = $1::uuid)`,
        userId,
      ),
    },
    // Matching no request any more, the key answers IDEMPOTENCY_KEY_REUSED to a retry, and refunds nothing twice.
    {
      table: 'idempotency_records',
      action: 'anonymised',
      rows: await tx.$executeRawUnsafe(
        `UPDATE payments.idempotency_records SET request_hash = 'erased' WHERE operation = 'refundPayment' AND request_hash <> 'erased'
           AND refund_id IN (SELECT refunds.id FROM payments.refunds JOIN payments.payments ON payments.id = refunds.payment_id WHERE payments.user_id = $1::uuid)`,
        userId,
      ),
    },
    {
      table: 'idempotency_records',
      action: 'deleted',
      rows: await tx.$executeRawUnsafe('DELETE FROM payments.idempotency_records WHERE user_id = $1::uuid', userId),
    },
  ];
}
