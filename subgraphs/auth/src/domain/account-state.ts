// The account policy's lookup in auth, which owns the accounts: a request's account and sign-in, as they are now.
import type { PreparedStatement, ServiceClient, UserRecord } from '@fedstack/shared-db';
import type { AccountSnapshot, AccountStateSource } from '@fedstack/service-kit';
import { USER_COLUMNS, toUser, type UserRow } from './users';

/**
 * auth's answers to the account policy, from its own tables (every other service answers from its view).
 * The lookup reads the viewer's whole row for the price of the policy's columns: a request for `me` (most
 * requests that reach auth) is answered from it, a statement fewer.
 */
export function accountStates(db: ServiceClient<'auth'>): AccountStateSource<UserRecord> {
  return {
    async lookup(userId, sessionId) {
      const [row] = await db.sql<UserRow & { session_ended: boolean }>(ACCOUNT_LOOKUP, [userId, sessionId]);
      // A token for a user auth does not know cannot stand for anyone.
      if (!row) return { account: { role: 'USER', status: 'ACTIVE', erased: true, sessionEnded: true } satisfies AccountSnapshot, viewerRow: null };
      const { session_ended: sessionEnded, ...columns } = row;
      const user = toUser(columns);
      return { account: { role: user.role, status: user.status, erased: user.erasedAt !== null, sessionEnded }, viewerRow: user };
    },
  };
}

/** Every request's check, prepared once per connection (see ServiceClient.sql). */
const ACCOUNT_LOOKUP: PreparedStatement = {
  name: 'account_lookup',
  text: `SELECT ${USER_COLUMNS},
                NOT EXISTS (SELECT 1 FROM auth.sessions s WHERE s.family_id = $2::uuid AND s.revoked_at IS NULL) AS session_ended
         FROM auth.users WHERE id = $1::uuid`,
};
