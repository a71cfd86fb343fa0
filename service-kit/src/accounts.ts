// One account-state policy for every service, in both layouts (docs/adr/0006-split-databases.md). An
// access token says who the user was when it was signed; what has happened since decides what it may do
// now: an erased account's tokens are refused, a suspended account's too, a sign-in that was ended
// (logout, logout everywhere, password change, refresh-token reuse, suspension) ends its tokens, and a
// role taken away is gone. A role given is not taken from the view: it comes with the next token (at the
// next refresh), so that a view that missed a change can only ever grant less, never more. auth answers
// from its own tables; every other service from its view, which auth keeps current through its outbox.
import { z } from 'zod';
import { SERVICES, type Service, forbidden, unauthenticated } from '@fedstack/runtime';
import { eventHandler, type EventHandler } from './internal-api';
import type { PreparedStatement, ServiceClient } from '@fedstack/shared-db';
import type { RawExecutor } from './outbox';
import { storable } from './text';
import type { RequestAuth, Viewer, ViewerRole } from './tokens';

/** What is known of an account now, or null when nothing has changed since it was created. */
export interface AccountSnapshot {
  role: ViewerRole;
  status: 'ACTIVE' | 'SUSPENDED';
  erased: boolean;
  /** The sign-in the token belongs to has ended. */
  sessionEnded: boolean;
}

/** What a request's account check read: the account now, and the viewer's own row when the service's check reads one. */
export interface AccountRead<R = never> {
  account: AccountSnapshot | null;
  /** The viewer's row in the service's own tables, read by the same statement (null: there is none); absent when the check reads none. */
  viewerRow?: R | null;
}

/** Where a service looks an account up, once per request that carries a token. */
export interface AccountStateSource<R = never> {
  lookup(userId: string, sessionId: string): Promise<AccountRead<R>>;
}

/**
 * A row of the service's own about the viewer that its account check reads in the same statement, so that
 * a request that asks for it (most ask for the viewer's) costs PostgreSQL a statement fewer: what a
 * statement costs it, whatever it asks, is most of what it spends on a request (docs/performance.md).
 */
export interface ViewerRow<R> {
  /** Joins the table on the viewer's id, `$1::uuid`, matching at most one row (the check's own aliases are `one` and `a`). */
  join: string;
  /** Each field of the row, as a column of the join. */
  columns: { [F in keyof R & string]: string };
  /** The field that is null when the viewer has no row. */
  key: keyof R & string;
}

/** The policy: a verified token and what is known of its account now → who may act, or why nobody may. */
export function applyAccountPolicy(viewer: Viewer, account: AccountSnapshot | null): RequestAuth {
  if (!account) return { viewer, error: null };
  if (account.erased) return { viewer: null, error: unauthenticated('This account has been erased') };
  if (account.status === 'SUSPENDED') return { viewer: null, error: forbidden('This account is suspended') };
  if (account.sessionEnded) return { viewer: null, error: unauthenticated('This sign-in has ended (signed out, or revoked): sign in again') };
  const role: ViewerRole = viewer.role === 'ADMIN' && account.role === 'ADMIN' ? 'ADMIN' : 'USER';
  return { viewer: role === viewer.role ? viewer : { ...viewer, role }, error: null };
}

/** The longest reason an admin may give for an action on an account (counted in characters, as people count them). */
export const REASON_MAX = 500;

/** The topics auth publishes to keep the views current. */
export const ACCOUNT_TOPICS = { changed: 'account.changed', sessionsRevoked: 'session.revoked' } as const;

/**
 * The services that keep a view of account states, and so receive auth's account events: every one but
 * auth, which owns the accounts. Derived from the stack, not listed: a fifth subgraph added without a
 * line here served a suspended account's token, its view never told.
 */
export const ACCOUNT_VIEW_SERVICES: readonly Service[] = SERVICES.filter((service) => service !== 'auth');

export const ACCOUNT_CHANGED = z.object({
  userId: z.uuid(),
  version: z.number().int().positive(),
  role: z.enum(['USER', 'ADMIN']),
  status: z.enum(['ACTIVE', 'SUSPENDED']),
  erasedAt: storable.instant().nullable(),
});
export type AccountChanged = z.infer<typeof ACCOUNT_CHANGED>;

const SESSIONS_REVOKED = z.object({
  userId: z.uuid(),
  familyIds: z.array(z.uuid()).min(1).max(10_000),
  revokedAt: storable.instant(),
  /** After this no access token of these sign-ins is valid anyway. */
  expiresAt: storable.instant(),
});
export type SessionsRevoked = z.infer<typeof SESSIONS_REVOKED>;

/** Anything that can run a query (a Prisma client or transaction client). */
export interface RawQuerier extends RawExecutor {
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): Promise<T>;
}

/** Applies an account change to `service`'s view unless a newer one is already there. */
export async function recordAccountChange(service: Service, tx: RawExecutor, change: AccountChanged): Promise<void> {
  const schema = `"${service}"`;
  await tx.$executeRawUnsafe(
    `INSERT INTO ${schema}.account_states (user_id, role, status, erased_at, version, updated_at)
     VALUES ($1::uuid, $2, $3, $4::timestamptz, $5, now())
     ON CONFLICT (user_id) DO UPDATE SET role = EXCLUDED.role, status = EXCLUDED.status, erased_at = EXCLUDED.erased_at,
       version = EXCLUDED.version, updated_at = now()
     WHERE ${schema}.account_states.version < EXCLUDED.version`,
    change.userId,
    change.role,
    change.status,
    change.erasedAt,
    change.version,
  );
}

/**
 * A service's view of account states, in its own schema's account_states and revoked_sessions tables;
 * with `viewerRow`, its lookup reads that row of the viewer's too. One per service client: its lookup is
 * a prepared statement, whose name stands for one text on the client's connections.
 */
export function accountView<R = never>(
  service: Service,
  db: RawQuerier & Pick<ServiceClient<Service>, 'sql'>,
  viewerRow?: ViewerRow<R>,
): AccountStateSource<R> & { handlers: Record<string, EventHandler<never>> } {
  const schema = `"${service}"`;
  const viewerFields = Object.entries<string>(viewerRow?.columns ?? {});
  // Every request's check: prepared once per connection (see ServiceClient.sql).
  const lookup: PreparedStatement = {
    name: 'account_lookup',
    text: `SELECT a.role, a.status, a.erased_at IS NOT NULL AS erased,
                  EXISTS (SELECT 1 FROM ${schema}.revoked_sessions r WHERE r.family_id = $2::uuid AND r.expires_at > now()) AS session_ended
                  ${viewerFields.map(([field, column]) => `, ${column} AS "viewer.${field}"`).join('')}
           FROM (SELECT 1) AS one LEFT JOIN ${schema}.account_states a ON a.user_id = $1::uuid ${viewerRow?.join ?? ''}`,
  };
  type LookupRow = { role: ViewerRole | null; status: 'ACTIVE' | 'SUSPENDED' | null; erased: boolean | null; session_ended: boolean } & Record<string, unknown>;
  const accountOf = (row: LookupRow | undefined): AccountSnapshot | null =>
    !row || (row.role === null && !row.session_ended)
      ? null
      : { role: row.role ?? 'USER', status: row.status ?? 'ACTIVE', erased: row.erased ?? false, sessionEnded: row.session_ended };
  return {
    async lookup(userId, sessionId) {
      const [row] = await db.sql<LookupRow>(lookup, [userId, sessionId]);
      const account = accountOf(row);
      if (!viewerRow) return { account };
      const found = row !== undefined && row[`viewer.${viewerRow.key}`] !== null;
      return { account, viewerRow: found ? (Object.fromEntries(viewerFields.map(([field]) => [field, row[`viewer.${field}`]])) as R) : null };
    },
    handlers: {
      [ACCOUNT_TOPICS.changed]: eventHandler({ from: ['auth'], payload: ACCOUNT_CHANGED, apply: (change) => recordAccountChange(service, db, change) }),
      [ACCOUNT_TOPICS.sessionsRevoked]: eventHandler({
        from: ['auth'],
        payload: SESSIONS_REVOKED,
        async apply(revoked) {
          await db.$executeRawUnsafe(
            `INSERT INTO ${schema}.revoked_sessions (family_id, user_id, revoked_at, expires_at)
             SELECT f, $2::uuid, $3::timestamptz, $4::timestamptz FROM unnest($1::uuid[]) AS f
             ON CONFLICT (family_id) DO UPDATE SET expires_at = greatest(${schema}.revoked_sessions.expires_at, EXCLUDED.expires_at)`,
            revoked.familyIds,
            revoked.userId,
            revoked.revokedAt,
            revoked.expiresAt,
          );
          // Ended sign-ins whose tokens have all expired need no remembering.
          await db.$executeRawUnsafe(`DELETE FROM ${schema}.revoked_sessions WHERE expires_at < now()`);
        },
      }),
    },
  };
}

/** The advisory lock that orders a service's writes about an account against that account's erasure there. */
function accountLock(service: Service, userId: string): string {
  return `${service}:account:${userId}`;
}

/**
 * Called first in a transaction that writes a user's data (a payment, a profile): waits while this
 * service erases that user, then refuses if it has. The policy checked the token when the request began;
 * this closes the window between that check and the write, so an erasure never leaves data written after it.
 * With `alone`, no other write about the user runs beside it, so that such writes commit in the order
 * they run, and what the transaction reads afterwards includes every one before it.
 */
export async function guardAccountWrite(tx: RawQuerier, service: Service, userId: string, { alone = false } = {}): Promise<void> {
  // Two statements on purpose: the check needs a snapshot taken after the lock is held.
  await tx.$queryRawUnsafe(`SELECT pg_advisory_xact_lock${alone ? '' : '_shared'}(hashtextextended($1, 0))::text`, accountLock(service, userId));
  const [row] = await tx.$queryRawUnsafe<{ erased: boolean }[]>(
    `SELECT EXISTS (SELECT 1 FROM "${service}".erasures WHERE user_id = $1::uuid)
            OR EXISTS (SELECT 1 FROM "${service}".account_states WHERE user_id = $1::uuid AND erased_at IS NOT NULL) AS erased`,
    userId,
  );
  if (row?.erased) throw unauthenticated('This account has been erased');
}

/** Taken by a service's erasure of a user: writes about the user wait for it, and see it done. */
export async function lockAccountForErasure(tx: RawQuerier, service: Service, userId: string): Promise<void> {
  await tx.$queryRawUnsafe(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))::text`, accountLock(service, userId));
}
