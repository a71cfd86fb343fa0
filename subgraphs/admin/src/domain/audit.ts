import { type Service, badUserInput, forbidden } from '@fedstack/runtime';
import type { AdminPrisma, AuditEntryRecord, ServiceClient } from '@fedstack/shared-db';
import {
  AUDIT_RECORD,
  AUDIT_TOPIC,
  decodeCursor,
  eventHandler,
  groupedBatchLoader,
  isUuid,
  pageSize,
  toConnection,
  type AuditRecord,
  type Connection,
  type EventHandler,
} from '@fedstack/service-kit';

type AdminDb = ServiceClient<'admin'>;

const AUDIT_PAGE = { default: 20, max: 100 };

/**
 * The actions each service may record: the one that owns what changed (auth for accounts, payments for
 * money, admin for erasures, which it runs). A service cannot write another's entries, even if compromised.
 */
const ACTIONS_OF: Record<Service, RegExp> = {
  auth: /^user\.(suspend|reinstate|role_change)$/,
  payments: /^payment\./,
  admin: /^user\.erase$/,
  profile: /^$/,
};

/**
 * Appends an audit entry once: its id is the event's, so the copy delivered by the outbox after the one
 * recorded straight away (or a delivery repeated after a crash) changes nothing.
 */
export async function recordEntry(db: Pick<AdminDb, '$executeRaw'>, record: AuditRecord, source: Service): Promise<void> {
  if (!ACTIONS_OF[source].test(record.action)) throw forbidden(`${source} may not record "${record.action}" entries`);
  await db.$executeRaw`
    INSERT INTO admin.audit_entries (id, actor_id, action, target_type, target_id, payload, request_id, created_at, source)
    VALUES (${record.id}::uuid, ${record.actorId}::uuid, ${record.action}, ${record.targetType}, ${record.targetId},
            ${JSON.stringify(record.payload)}::jsonb, ${record.requestId}, ${record.createdAt}::timestamptz, ${source})
    ON CONFLICT (id) DO NOTHING`;
}

/** The `audit.record` events auth and payments send through their outboxes. */
export function auditEvents(db: AdminDb): Record<string, EventHandler<never>> {
  return {
    [AUDIT_TOPIC]: eventHandler({ from: ['auth', 'payments'], payload: AUDIT_RECORD, apply: (record, event) => recordEntry(db, record, event.source) }),
  };
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
  const where: AdminPrisma.AuditEntryWhereInput = {
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
