// The account policy's lookup in auth, which owns the accounts: a request's account and sign-in, as they are now.
import type { PreparedStatement, ServiceClient, UserRecord } from '@fedstack/shared-db';
import type { AccountSnapshot, AccountStateSource } from '@fedstack/service-kit';
import { USER_COLUMNS, toUser, type UserRow } from './users';

/**
 * The user each lookup read, by the snapshot made of it: the lookup reads the whole row for the price of
 * the policy's columns, and a request for `me` (most requests that reach auth) is then answered from it,
 * a statement fewer.
 */
const usersRead = new WeakMap<AccountSnapshot, UserRecord>();

/** auth's answers to the account policy, from its own tables (every other service answers from its view). */
export function accountStates(db: ServiceClient<'auth'>): AccountStateSource {
  return {
    async lookup(userId, sessionId) {
      const [row] = await db.sql<UserRow & { session_ended: boolean }>(ACCOUNT_LOOKUP, [userId, sessionId]);
      // A token for a user auth does not know cannot stand for anyone.
      if (!row) return { role: 'USER', status: 'ACTIVE', erased: true, sessionEnded: true } satisfies AccountSnapshot;
      const { session_ended: sessionEnded, ...columns } = row;
      const user = toUser(columns);
      const snapshot: AccountSnapshot = { role: user.role, status: user.status, erased: user.erasedAt !== null, sessionEnded };
      usersRead.set(snapshot, user);
      return snapshot;
    },
  };
}

/** The user whose account `snapshot` describes, as the lookup that made it read them (on the primary, as the request began). */
export function userReadBy(snapshot: AccountSnapshot | null | undefined): UserRecord | undefined {
  return snapshot ? usersRead.get(snapshot) : undefined;
}

/** Every request's check, prepared once per connection (see ServiceClient.sql). */
const ACCOUNT_LOOKUP: PreparedStatement = {
  name: 'account_lookup',
  text: `SELECT ${USER_COLUMNS},
                NOT EXISTS (SELECT 1 FROM auth.sessions s WHERE s.family_id = $2::uuid AND s.revoked_at IS NULL) AS session_ended
         FROM auth.users WHERE id = $1::uuid`,
};
