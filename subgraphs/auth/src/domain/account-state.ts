// The account policy's lookup in auth, which owns the accounts: a request's account and sign-in, as they are now.
import type { PreparedStatement, ServiceClient } from '@fedstack/shared-db';
import type { AccountSnapshot, AccountStateSource, ViewerRole } from '@fedstack/service-kit';

/** auth's answers to the account policy, from its own tables (every other service answers from its view). */
export function accountStates(db: ServiceClient<'auth'>): AccountStateSource {
  return {
    async lookup(userId, sessionId) {
      const [row] = await db.sql<{ role: ViewerRole; status: 'ACTIVE' | 'SUSPENDED'; erased: boolean; session_ended: boolean }>(ACCOUNT_LOOKUP, [
        userId,
        sessionId,
      ]);
      // A token for a user auth does not know cannot stand for anyone.
      if (!row) return { role: 'USER', status: 'ACTIVE', erased: true, sessionEnded: true } satisfies AccountSnapshot;
      return { role: row.role, status: row.status, erased: row.erased, sessionEnded: row.session_ended };
    },
  };
}

/** Every request's check, prepared once per connection (see ServiceClient.sql). */
const ACCOUNT_LOOKUP: PreparedStatement = {
  name: 'account_lookup',
  text: `SELECT u.role::text AS role, u.status::text AS status, u.erased_at IS NOT NULL AS erased,
                NOT EXISTS (SELECT 1 FROM auth.sessions s WHERE s.family_id = $2::uuid AND s.revoked_at IS NULL) AS session_ended
         FROM auth.users u WHERE u.id = $1::uuid`,
};
