import type { AuthPrisma, ServiceClient, UserRecord } from '@fedstack/shared-db';
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

/** Loads users by id for one request: one SQL statement per batch, results in key order. */
export function createUserLoader(db: AuthDb) {
  return batchLoader<string, UserRecord>(
    (ids) => db.user.findMany({ where: { id: { in: ids.filter(isUuid) } } }),
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
