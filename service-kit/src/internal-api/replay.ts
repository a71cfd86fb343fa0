// Refusing replayed internal calls: each accepted token's id is recorded in the called service's own database until it expires.
import type { Service } from '@fedstack/runtime';
import type { PreparedStatement, ServiceClient } from '@fedstack/shared-db';

/**
 * Records that a call with this token id was accepted; resolves to false when one already was (a replay),
 * by this process or by any other replica of the service, since they share the database.
 */
export type ReplayGuard = (tokenId: string, expiresAt: Date) => Promise<boolean>;

/**
 * Expired rows each accepted call removes. More than the one row a call adds, so that the table shrinks
 * back to the calls of the last minute or two after a burst, with no scheduler to run.
 */
export const EXPIRED_REMOVED_PER_CALL = 4;

/**
 * A row is kept a minute past its token's expiry: a replica whose clock runs behind the database's
 * still takes the token as valid for that long, and must still find its id.
 */
const CLOCK_GRACE = '1 minute';

/**
 * The replay guard of `service`, over its own `internal_call_tokens` table: one statement per call, which
 * inserts the id (the primary key makes two replicas racing with the same token agree on one winner) and
 * deletes a few expired rows. SKIP LOCKED: replicas pruning at once take different rows, never wait.
 */
export function replayGuard(db: Pick<ServiceClient<Service>, 'sql'>, service: Service): ReplayGuard {
  const table = `"${service}"."internal_call_tokens"`;
  const statement: PreparedStatement = {
    name: 'internal_call_token_first_use',
    text: `WITH expired AS (
             DELETE FROM ${table} WHERE jti IN (
               SELECT jti FROM ${table} WHERE expires_at < now() - interval '${CLOCK_GRACE}'
               ORDER BY expires_at LIMIT ${EXPIRED_REMOVED_PER_CALL} FOR UPDATE SKIP LOCKED))
           INSERT INTO ${table} (jti, expires_at) VALUES ($1, $2)
           ON CONFLICT (jti) DO NOTHING
           RETURNING jti`,
  };
  return async (tokenId, expiresAt) => (await db.sql<{ jti: string }>(statement, [tokenId, expiresAt])).length === 1;
}
