// Idempotency keys: a client's retry of createPayment or refundPayment answers what the first request did.
import { createHash } from 'node:crypto';
import type { ServiceTransaction } from '@fedstack/shared-db';
import { AppError, ErrorCode, badUserInput, excerpt } from '@fedstack/runtime';

export const MAX_KEY_LENGTH = 255;

/** Waiting for a pool connection or for a concurrent holder of the same key must not fail the request. */
export const KEYED_TRANSACTION = { maxWait: 10_000, timeout: 15_000 };

export type IdempotentOperation = 'createPayment' | 'refundPayment';

/**
 * Checks a client's idempotency key: 1 to 255 characters, no control characters. Counted in code points,
 * as the column (varchar(255)) counts them: in UTF-16 units, 128 emoji were "256 characters".
 */
export function assertIdempotencyKey(key: string): void {
  const length = [...key].length;
  if (length < 1 || length > MAX_KEY_LENGTH) {
    throw badUserInput('idempotencyKey', `must be 1 to ${MAX_KEY_LENGTH} characters (got ${length})`);
  }
  if (/\p{Cc}/u.test(key)) throw badUserInput('idempotencyKey', 'must not contain control characters');
}

/** A fingerprint of the request, so that a key reused with other input is recognised. */
export function fingerprint(request: Record<string, string | null>): string {
  const canonical = JSON.stringify(
    Object.keys(request)
      .sort()
      .map((name) => [name, request[name]]),
  );
  return createHash('sha256').update(canonical).digest('hex');
}

export type Claim = { kind: 'claimed'; recordId: string } | { kind: 'replay'; paymentId: string | null; refundId: string | null; errorCode: string | null };

/**
 * Claims a key inside the caller's transaction. The unique constraint does the work: a concurrent
 * request with the same key waits on the index until the first one commits, then finds its record
 * and replays its answer. Different input under the same key is IDEMPOTENCY_KEY_REUSED.
 */
export async function claimIdempotencyKey(
  tx: ServiceTransaction<'payments'>,
  scope: { userId: string; operation: IdempotentOperation; key: string; requestHash: string },
): Promise<Claim> {
  const [claimed] = await tx.$queryRaw<{ id: string }[]>`
    INSERT INTO payments.idempotency_records (user_id, operation, key, request_hash)
    VALUES (${scope.userId}::uuid, ${scope.operation}, ${scope.key}, ${scope.requestHash})
    ON CONFLICT (user_id, operation, key) DO NOTHING
    RETURNING id`;
  if (claimed) return { kind: 'claimed', recordId: claimed.id };
  const existing = await tx.idempotencyRecord.findUniqueOrThrow({
    where: { userId_operation_key: { userId: scope.userId, operation: scope.operation, key: scope.key } },
  });
  if (existing.requestHash !== scope.requestHash) {
    throw new AppError(
      ErrorCode.IDEMPOTENCY_KEY_REUSED,
      `The idempotency key "${excerpt(scope.key, 64)}" was already used for a ${scope.operation} with different input; use a new key for a new request`,
      { field: 'idempotencyKey' },
    );
  }
  return { kind: 'replay', paymentId: existing.paymentId, refundId: existing.refundId, errorCode: existing.errorCode };
}
