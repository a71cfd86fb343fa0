// Reading users: by id in batches for a request, and page by page, newest first, for admins.
import type { AuthPrisma, PreparedStatement, ServiceClient, UserRecord } from '@fedstack/shared-db';
import { batchLoader, decodeCursor, isUuid, pageSize, toConnection, type Connection } from '@fedstack/service-kit';
import type { UserFilter } from '../generated/resolvers-types';

/**
 * Text matched literally by Prisma's startsWith, which becomes a LIKE pattern in which `%` and `_` are
 * wildcards and a backslash escapes (PostgreSQL's default escape character).
 */
export function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (character) => `\\${character}`);
}

type AuthDb = ServiceClient<'auth'>;

/** Users by id: every request that names the viewer runs it, so it is prepared (see ServiceClient.sql). */
const USERS_BY_ID: PreparedStatement = {
  name: 'users_by_id',
  text: `SELECT id, email, role::text AS role, status::text AS status, created_at AS "createdAt", updated_at AS "updatedAt",
                last_login_at AS "lastLoginAt", erased_at AS "erasedAt", state_version AS "stateVersion"
         FROM auth.users WHERE id = ANY($1::uuid[])`,
};

/** Loads users by id for one request: one SQL statement per batch, results in key order. */
export function createUserLoader(db: AuthDb) {
  return batchLoader<string, UserRecord>(
    async (ids) =>
      (await db.sql<Omit<UserRecord, 'stateVersion'> & { stateVersion: string }>(USERS_BY_ID, [ids.filter(isUuid)])).map((user) => ({
        ...user,
        stateVersion: BigInt(user.stateVersion),
      })),
    (user) => user.id,
    null,
  );
}

const USERS_PAGE = { default: 20, max: 200 };

/** A page of users, newest first, with a cursor on (createdAt, id). */
export async function listUsers(
  db: AuthDb,
  args: { first?: number | null; after?: string | null; filter?: UserFilter | null },
): Promise<Connection<UserRecord>> {
  const first = pageSize(args.first, USERS_PAGE);
  const where: AuthPrisma.UserWhereInput = {
    ...(args.filter?.role ? { role: args.filter.role } : {}),
    ...(args.filter?.status ? { status: args.filter.status } : {}),
    ...(args.filter?.emailPrefix ? { email: { startsWith: likeLiteral(args.filter.emailPrefix.trim().toLowerCase()) } } : {}),
  };
  if (args.after) {
    const after = decodeCursor(args.after);
    where.OR = [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }];
  }
  const rows = first === 0 ? [] : await db.user.findMany({ where, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], take: first + 1 });
  return toConnection(rows, first, Boolean(args.after));
}
