// payments' part of erasing a user: what identifies them goes, what accounting needs stays, anonymised.
import { type ErasureChange, type RawExecutor } from '@fedstack/service-kit';

/**
 * payments' part of an erasure (inside the erase command's transaction): payments and refunds stay for
 * accounting, without the payments' description or card digits and the refunds' reasons (what an admin
 * wrote about the user); the idempotency records, which hold the client's keys, go. A charge still in
 * flight keeps its token until it settles, which clears it, so that it is finished rather than lost.
 */
export async function erasePayments(tx: RawExecutor, userId: string): Promise<ErasureChange[]> {
  return [
    {
      table: 'payments',
      action: 'anonymised',
      rows: await tx.$executeRawUnsafe(
        `UPDATE payments.payments SET description = NULL, method_last4 = NULL, anonymised_at = now(), updated_at = now() WHERE user_id = $1::uuid`,
        userId,
      ),
    },
    {
      table: 'refunds',
      action: 'anonymised',
      rows: await tx.$executeRawUnsafe(
        `UPDATE payments.refunds SET reason = NULL WHERE reason IS NOT NULL AND payment_id IN (SELECT id FROM payments.payments WHERE user_id = $1::uuid)`,
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
