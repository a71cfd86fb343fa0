// Reading users: by id in batches for a request, and page by page, newest first, for admins.
import type { PreparedStatement, UserRecord } from '@fedstack/shared-db';
import { batchLoader, decodeCursor, isUuid, pageSize, toConnection, type Connection, type StaleRead } from '@fedstack/service-kit';
import type { UserFilter } from '../generated/resolvers-types';

/** Text matched literally by LIKE, in which `%` and `_` are wildcards and a backslash escapes (PostgreSQL's default escape character). */
export function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (character) => `\\${character}`);
}

/** A user's columns as UserRecord names them (`stateVersion` as text: `toUser` makes it a bigint). */
export const USER_COLUMNS = `id, email, role::text AS role, status::text AS status, created_at AS "createdAt", updated_at AS "updatedAt",
  last_login_at AS "lastLoginAt", erased_at AS "erasedAt", state_version AS "stateVersion"`;

/** Users by id: every request that names the viewer runs it, so it is prepared (see ServiceClient.sql). */
const USERS_BY_ID: PreparedStatement = { name: 'users_by_id', text: `SELECT ${USER_COLUMNS} FROM auth.users WHERE id = ANY($1::uuid[])` };

/**
 * A page of users, newest first, erased accounts left out (their tombstones are no one's, as adminStats
 * counts them: listed, they filled `status: SUSPENDED`), each filter applied when given (a null parameter matches every row), after
 * the cursor's (createdAt, id) when given. SQL rather than Prisma, so that auth's requests never need
 * Prisma's query compiler (about 20 MB of memory). The role and status are compared as the columns'
 * types, which lets PostgreSQL use their statistics and the admins' index (users_admins_idx); the
 * prefix has an index of its own (users_email_prefix_idx).
 */
const USERS_PAGE_QUERY: PreparedStatement = {
  name: 'users_page',
  text: `SELECT ${USER_COLUMNS} FROM auth.users
         WHERE erased_at IS NULL AND ($1::auth."Role" IS NULL OR role = $1) AND ($2::auth."UserStatus" IS NULL OR status = $2)
           AND ($3::text IS NULL OR email LIKE $3 || '%') AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5::uuid))
         ORDER BY created_at DESC, id DESC LIMIT $6`,
};

export type UserRow = Omit<UserRecord, 'stateVersion'> & { stateVersion: string };
export const toUser = (user: UserRow): UserRecord => ({ ...user, stateVersion: BigInt(user.stateVersion) });

/**
 * Loads users by id for one request: one SQL statement per batch, results in key order, from a replica
 * when one has the client's writes. Ids it does not know are asked again of `primary` (given when the
 * service has replicas), which has every sign-up: a user a replica had not replayed yet was answered as
 * none, and nulled whatever named them (an admin's view of a new user's payment, an event about it).
 */
export function createUserLoader(read: StaleRead, primary?: StaleRead) {
  return batchLoader<string, UserRecord>(
    async (keys) => {
      const ids = keys.filter(isUuid);
      const rows = await read<UserRow>(USERS_BY_ID, [ids]);
      if (!primary) return rows.map(toUser);
      const found = new Set(rows.map((row) => row.id));
      const unknown = ids.filter((id) => !found.has(id.toLowerCase()));
      const late = unknown.length > 0 ? await primary<UserRow>(USERS_BY_ID, [unknown]) : [];
      return [...rows, ...late].map(toUser);
    },
    (user) => user.id,
    null,
  );
}

const USERS_PAGE = { default: 20, max: 200 };

/** A page of users, newest first, with a cursor on (createdAt, id); from a replica when one has the client's writes. */
export async function listUsers(
  read: StaleRead,
  args: { first?: number | null; after?: string | null; filter?: UserFilter | null },
): Promise<Connection<UserRecord>> {
  const first = pageSize(args.first, USERS_PAGE);
  const after = args.after ? decodeCursor(args.after) : undefined;
  const prefix = args.filter?.emailPrefix ? likeLiteral(args.filter.emailPrefix.trim().toLowerCase()) : null;
  // With first: 0 too: the row after the page says whether there is a next one.
  const rows = (
    await read<UserRow>(USERS_PAGE_QUERY, [
      args.filter?.role ?? null,
      args.filter?.status ?? null,
      prefix,
      after?.createdAt ?? null,
      after?.id ?? null,
      first + 1,
    ])
  ).map(toUser);
  return toConnection(rows, first, Boolean(args.after));
}
