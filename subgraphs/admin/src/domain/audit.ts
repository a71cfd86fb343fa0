// The audit trail admin keeps: entries recorded once from the services' events, listed and paged, and their details erased.
import { type Service, badUserInput, forbidden } from '@fedstack/runtime';
import type { AdminPrisma, AuditEntryRecord, PreparedStatement, ServiceClient, ServiceTransaction } from '@fedstack/shared-db';
import {
  AUDIT_RECORD,
  recordAccountChange,
  AUDIT_TOPIC,
  canonicalId,
  decodeCursor,
  eventHandler,
  groupedBatchLoader,
  isUuid,
  pageSize,
  singleFlight,
  toConnection,
  type AuditRecord,
  type Connection,
  type EventHandler,
  type RowEvent,
  type StaleRead,
} from '@fedstack/service-kit';

type AdminDb = ServiceClient<'admin'>;
type AdminTx = ServiceTransaction<'admin'>;

const AUDIT_PAGE = { default: 20, max: 100 };

/** An entry as the API shows it: with its details, null when there are none or they were erased. */
export type AuditEntryView = AuditEntryRecord & { details: AdminPrisma.JsonValue | null };

/** Where an entry stands in the log: when admin recorded it (lockLogOrder). */
const recorded = (entry: AuditEntryView) => ({ createdAt: entry.recordedAt, id: entry.id });

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
 * Serialises what concerns one user's audit details: recording them, and erasing them. Without it, details
 * checked against a not-yet-committed erasure could be written just after that erasure deleted the rest.
 */
async function lockDetailsOf(tx: AdminTx, userId: string): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`audit-details:${userId}`}, 0))`;
}

/**
 * Held while an entry is recorded, by whichever admin process: entries are recorded one at a time, each
 * stamped (`recorded_at`) after the one before, so that the log's order is the order they commit in. By
 * the sender's time (`created_at`), an entry arriving late through an outbox, or committing after a newer
 * one, landed inside a page a client had read, and paging on never showed it (found in review: 34 of
 * 6,129 first pages). Taken last of an entry's locks (a user's details, then the account's state, then
 * this), as an erasure takes them.
 */
async function lockLogOrder(tx: AdminTx): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended('admin:audit-log-order', 0))`;
}

/**
 * Appends an audit entry once, in the caller's transaction: its id is the event's, so the copy delivered
 * by the outbox after the one recorded straight away (or a delivery repeated after a crash) changes
 * nothing. Its details, personal words about the target user, go beside it, unless that user has been
 * erased meanwhile (an entry delivered late): then they are dropped, and the entry kept. The account's new
 * state it carries is recorded first: the entry's notification then reaches the live feed after the
 * account's, whichever of auth's deliveries comes first, and a suspended or demoted admin is not sent the
 * entry of their own suspension or demotion (admin's view still took them for an active admin).
 */
export async function recordEntry(tx: AdminTx, record: AuditRecord, source: Service): Promise<void> {
  if (!ACTIONS_OF[source].test(record.action)) throw forbidden(`${source} may not record "${record.action}" entries`);
  const subjectId = record.targetType === 'User' && record.targetId && isUuid(record.targetId) ? record.targetId : null;
  if (record.details && !subjectId) throw badUserInput('details', 'belong only to entries about a user (targetType "User", targetId a UUID)');
  // An erasure holds the user's details first, then records its entry: the same order here.
  if (record.details && subjectId) await lockDetailsOf(tx, subjectId);
  if (record.account) {
    // Only auth, which owns accounts, and admin passing on auth's answer (an erasure) speak of their state.
    if (source !== 'auth' && source !== 'admin') throw forbidden(`${source} may not record accounts' states`);
    if (canonicalId(record.account.userId) !== canonicalId(subjectId)) throw badUserInput('account', "must be the state of the entry's target user");
    await recordAccountChange('admin', tx, record.account);
  }
  await lockLogOrder(tx);
  // A millisecond after the newest at least (the column keeps milliseconds), read once the lock is held.
  await tx.$executeRaw`
    INSERT INTO admin.audit_entries (id, actor_id, action, target_type, target_id, payload, request_id, created_at, source, recorded_at)
    VALUES (${record.id}::uuid, ${record.actorId}::uuid, ${record.action}, ${record.targetType}, ${record.targetId},
            ${JSON.stringify(record.payload)}::jsonb, ${record.requestId}, ${record.createdAt}::timestamptz, ${source},
            greatest(clock_timestamp(), (SELECT max(recorded_at) + interval '1 millisecond' FROM admin.audit_entries)))
    ON CONFLICT (id) DO NOTHING`;
  if (!record.details || !subjectId) return;
  await tx.$executeRaw`
    INSERT INTO admin.audit_details (entry_id, subject_id, details)
    SELECT ${record.id}::uuid, ${subjectId}::uuid, ${JSON.stringify(record.details)}::jsonb
    WHERE NOT EXISTS (SELECT 1 FROM admin.erasure_requests WHERE user_id = ${subjectId}::uuid AND completed_at IS NOT NULL)
    ON CONFLICT (entry_id) DO NOTHING`;
}

/** Deletes what admins wrote about a user (part of erasing them); answers how many rows went. */
export async function eraseDetailsOf(tx: AdminTx, userId: string): Promise<number> {
  await lockDetailsOf(tx, userId);
  return tx.$executeRaw`DELETE FROM admin.audit_details WHERE subject_id = ${userId}::uuid`;
}

/** Every column of an entry with its details, as AuditEntryView holds them. */
const ENTRY_COLUMNS = `a.id AS "id", a.actor_id AS "actorId", a.action AS "action", a.target_type AS "targetType", a.target_id AS "targetId",
  a.payload AS "payload", d.details AS "details", a.request_id AS "requestId", a.source AS "source", a.created_at AS "createdAt",
  a.recorded_at AS "recordedAt"`;

/** One entry with its details, by id: prepared, as every auditEntryAdded subscriber reads each new entry. */
const AUDIT_ENTRY_BY_ID: PreparedStatement = {
  name: 'audit_entry_by_id',
  text: `SELECT ${ENTRY_COLUMNS}
         FROM admin.audit_entries a LEFT JOIN admin.audit_details d ON d.entry_id = a.id
         WHERE a.id = $1::uuid`,
};

/** The entry an event announces, as recorded, with its details (auditEntryAdded reads each). */
export function auditEntryOf(db: AdminDb, event: RowEvent): Promise<AuditEntryView | null> {
  // Every admin on the live feed asks at once when an entry is recorded: one read between them.
  return readingEntries(event, async () => (await db.sql<AuditEntryView>(AUDIT_ENTRY_BY_ID, [event.id]))[0] ?? null);
}

const readingEntries = singleFlight<AuditEntryView | null>();

/** The `audit.record` events auth and payments send through their outboxes. */
export function auditEvents(db: AdminDb): Record<string, EventHandler<never>> {
  return {
    [AUDIT_TOPIC]: eventHandler({
      from: ['auth', 'payments'],
      payload: AUDIT_RECORD,
      apply: (record, event) => db.$transaction((tx) => recordEntry(tx, record, event.source)),
    }),
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

/**
 * A page of the log, newest recorded first (lockLogOrder), each filter applied when given (a null parameter
 * matches every row; `from` and `to` are the entries' own times), after the cursor when given.
 */
const AUDIT_PAGE_QUERY: PreparedStatement = {
  name: 'audit_page',
  text: `SELECT ${ENTRY_COLUMNS}
         FROM admin.audit_entries a LEFT JOIN admin.audit_details d ON d.entry_id = a.id
         WHERE ($1::uuid IS NULL OR a.actor_id = $1::uuid) AND ($2::text IS NULL OR a.action = $2::text)
           AND ($3::text IS NULL OR a.target_id = $3::text)
           AND ($4::timestamptz IS NULL OR a.created_at >= $4::timestamptz) AND ($5::timestamptz IS NULL OR a.created_at < $5::timestamptz)
           AND ($6::timestamptz IS NULL OR (a.recorded_at, a.id) < ($6::timestamptz, $7::uuid))
         ORDER BY a.recorded_at DESC, a.id DESC LIMIT $8::int`,
};

/** The audit log, newest recorded first, filtered by actor, action, target and time range; from a replica when one has the client's writes. */
export async function listAuditEntries(
  read: StaleRead,
  args: { first?: number | null; after?: string | null; filter?: AuditFilterArgs | null },
): Promise<Connection<AuditEntryView>> {
  const first = pageSize(args.first, AUDIT_PAGE);
  const filter = args.filter ?? {};
  if (filter.actorId && !isUuid(filter.actorId)) throw badUserInput('filter.actorId', 'must be a UUID');
  const after = afterCursor(args.after);
  // With first: 0 too: the row after the page says whether there is a next one.
  const rows = await read<AuditEntryView>(AUDIT_PAGE_QUERY, [
    filter.actorId || null,
    filter.action || null,
    canonicalId(filter.targetId) || null,
    filter.from ?? null,
    filter.to ?? null,
    after?.createdAt ?? null,
    after?.id ?? null,
    first + 1,
  ]);
  return toConnection(rows, first, Boolean(after), recorded);
}

/** Each user's page of entries about them, newest recorded first, ranked by a window function. */
const AUDIT_TRAILS: PreparedStatement = {
  name: 'audit_trails',
  text: `SELECT "id", "actorId", "action", "targetType", "targetId", "payload", "details", "requestId", "source", "createdAt", "recordedAt"
         FROM (
           SELECT ${ENTRY_COLUMNS}, row_number() OVER (PARTITION BY a.target_id ORDER BY a.recorded_at DESC, a.id DESC) AS rank
           FROM admin.audit_entries a LEFT JOIN admin.audit_details d ON d.entry_id = a.id
           WHERE a.target_type = 'User' AND a.target_id = ANY($1::text[])
             AND ($2::timestamptz IS NULL OR (a.recorded_at, a.id) < ($2::timestamptz, $3::uuid))
         ) ranked
         WHERE rank <= $4::int
         ORDER BY "targetId", rank`,
};

/**
 * Pages of audit entries about many users at once (User.auditTrail): a window function ranks each
 * user's entries, so a list of users costs one statement; from a replica when one has the client's writes.
 */
export function createAuditTrailLoader(read: StaleRead, args: { first?: number | null; after?: string | null }) {
  const first = pageSize(args.first, AUDIT_PAGE);
  const after = afterCursor(args.after);
  return groupedBatchLoader<string, AuditEntryView>(
    async (userIds) => read<AuditEntryView>(AUDIT_TRAILS, [[...userIds], after?.createdAt ?? null, after?.id ?? null, first + 1]),
    (entry) => entry.targetId as string,
  );
}

export function auditTrailConnection(rows: AuditEntryView[], args: { first?: number | null; after?: string | null }) {
  return toConnection(rows, pageSize(args.first, AUDIT_PAGE), Boolean(args.after), recorded);
}
