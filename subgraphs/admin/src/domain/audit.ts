import type { AuditEntryRecord, CrossServiceTransaction, Prisma, ServiceClient } from '@fedstack/shared-db';
import {
  badUserInput,
  decodeCursor,
  groupedBatchLoader,
  isUuid,
  pageSize,
  toConnection,
  type Connection,
} from '@fedstack/service-kit';

type AdminDb = ServiceClient<'admin'>;

const AUDIT_PAGE = { default: 20, max: 100 };

export interface AuditRecord {
  actorId: string;
  action: string;
  targetType: string;
  targetId: string;
  payload: Prisma.InputJsonObject;
  requestId: string;
}

/** Appends one audit entry inside the transaction whose change it records. */
export async function audit(tx: CrossServiceTransaction<'admin'>, entry: AuditRecord): Promise<void> {
  await tx.auditEntry.create({ data: entry });
}

export interface AuditFilterArgs {
  actorId?: string | null;
  action?: string | null;
  targetId?: string | null;
  from?: Date | null;
  to?: Date | null;
}

const afterCursor = (after: string | null | undefined) => (after ? decodeCursor(after) : null);

/** The audit log, newest first, filtered by actor, action, target and time range. */
export async function listAuditEntries(
  db: AdminDb,
  args: { first?: number | null; after?: string | null; filter?: AuditFilterArgs | null },
): Promise<Connection<AuditEntryRecord>> {
  const first = pageSize(args.first, AUDIT_PAGE);
  const filter = args.filter ?? {};
  if (filter.actorId && !isUuid(filter.actorId)) throw badUserInput('filter.actorId', 'must be a UUID');
  const where: Prisma.AuditEntryWhereInput = {
    ...(filter.actorId ? { actorId: filter.actorId } : {}),
    ...(filter.action ? { action: filter.action } : {}),
    ...(filter.targetId ? { targetId: filter.targetId } : {}),
    ...(filter.from || filter.to ? { createdAt: { ...(filter.from ? { gte: filter.from } : {}), ...(filter.to ? { lt: filter.to } : {}) } } : {}),
  };
  const after = afterCursor(args.after);
  if (after) where.OR = [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }];
  const rows = first === 0 ? [] : await db.auditEntry.findMany({ where, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], take: first + 1 });
  return toConnection(rows, first, Boolean(after));
}

/**
 * Pages of audit entries about many users at once (User.auditTrail): a window function ranks each
 * user's entries, so a list of users costs one statement.
 */
export function createAuditTrailLoader(db: AdminDb, args: { first?: number | null; after?: string | null }) {
  const first = pageSize(args.first, AUDIT_PAGE);
  const after = afterCursor(args.after);
  return groupedBatchLoader<string, AuditEntryRecord>(
    async (userIds) => {
      if (first === 0) return [];
      return db.$queryRaw<AuditEntryRecord[]>`
        SELECT "id", "actorId", "action", "targetType", "targetId", "payload", "requestId", "createdAt"
        FROM (
          SELECT a.id AS "id", a.actor_id AS "actorId", a.action AS "action", a.target_type AS "targetType",
                 a.target_id AS "targetId", a.payload AS "payload", a.request_id AS "requestId", a.created_at AS "createdAt",
                 row_number() OVER (PARTITION BY a.target_id ORDER BY a.created_at DESC, a.id DESC) AS rank
          FROM admin.audit_entries a
          WHERE a.target_type = 'User' AND a.target_id = ANY(${[...userIds]}::text[])
            AND (${after?.createdAt ?? null}::timestamptz IS NULL OR (a.created_at, a.id) < (${after?.createdAt ?? null}::timestamptz, ${after?.id ?? null}::uuid))
        ) ranked
        WHERE rank <= ${first + 1}
        ORDER BY "targetId", rank`;
    },
    (entry) => entry.targetId as string,
  );
}

export function auditTrailConnection(rows: AuditEntryRecord[], args: { first?: number | null; after?: string | null }) {
  return toConnection(rows, pageSize(args.first, AUDIT_PAGE), Boolean(args.after));
}
