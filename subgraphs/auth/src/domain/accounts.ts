// What admins do to accounts (suspension, reinstatement, roles, erasure of auth's part), done here because auth owns them.
import { badUserInput, conflict, forbidden, notFound } from '@fedstack/runtime';
import type { AuthPrisma, ServiceClient, ServiceTransaction } from '@fedstack/shared-db';
import {
  ACCOUNT_TOPICS,
  ACCOUNT_VIEW_SERVICES,
  enqueue,
  recordAudit,
  type AccountChanged,
  type AuditRecord,
  type ErasureChange,
  type ErasureReport,
  type ViewerRole,
} from '@fedstack/service-kit';
import { endSessions, publishEndedSessions, type EndedFamily } from './ended-sessions';
import type { ThrottleKeys } from './throttle';

type AuthDb = ServiceClient<'auth'>;
type AuthTx = ServiceTransaction<'auth'>;
type Role = ViewerRole;
type Status = 'ACTIVE' | 'SUSPENDED';

/**
 * What admins do to accounts, done here because auth owns them: suspension, reinstatement, role changes
 * and erasure of auth's part. Each runs in one transaction that also writes, through the outbox, the
 * account's new state for every service's view and the audit entry for admin, so that a change and the
 * news of it commit together (docs/adr/0006-split-databases.md).
 */

/** Who acts, and in which request (recorded in the audit entry). */
export interface Actor {
  userId: string;
  requestId: string;
}

interface LockedUser {
  id: string;
  email: string;
  role: Role;
  status: Status;
  erased_at: Date | null;
  state_version: bigint;
}

/** An account's state as the views record it. */
function published(userId: string, state: { role: Role; status: Status; erased_at: Date | null; state_version: bigint }): AccountChanged {
  return {
    userId,
    version: Number(state.state_version),
    role: state.role,
    status: state.status,
    erasedAt: state.erased_at?.toISOString() ?? null,
  };
}

/** Records an account's new role, status or erasure and publishes it with its new version. */
async function changeAccount(tx: AuthTx, user: LockedUser, change: { role?: Role; status?: Status; erasedAt?: Date; email?: string }): Promise<AccountChanged> {
  const [updated] = await tx.$queryRaw<{ role: Role; status: Status; erased_at: Date | null; state_version: bigint }[]>`
    UPDATE auth.users SET role = coalesce(${change.role ?? null}::text, role::text)::auth."Role",
                          status = coalesce(${change.status ?? null}::text, status::text)::auth."UserStatus",
                          erased_at = coalesce(${change.erasedAt ?? null}::timestamptz, erased_at),
                          email = coalesce(${change.email ?? null}, email),
                          state_version = state_version + 1, updated_at = now()
    WHERE id = ${user.id}::uuid
    RETURNING role::text AS role, status::text AS status, erased_at, state_version`;
  const payload = published(user.id, updated as LockedUser);
  await enqueue(tx, 'auth', { topic: ACCOUNT_TOPICS.changed, payload, destinations: ACCOUNT_VIEW_SERVICES });
  return payload;
}

/**
 * Writes the audit entry of an action to admin's trail, through the outbox, and returns it; with the
 * account's new state (`account`) when the action changed it, which admin records with the entry.
 */
function audit(
  tx: AuthTx,
  actor: Actor,
  user: LockedUser,
  action: string,
  payload: Record<string, unknown>,
  { details = null, account }: { details?: Record<string, string> | null; account?: AccountChanged } = {},
): Promise<AuditRecord> {
  return recordAudit(tx, 'auth', {
    actorId: actor.userId,
    action,
    targetType: 'User',
    targetId: user.id,
    payload,
    details,
    requestId: actor.requestId,
    ...(account && { account }),
  });
}

function assertNotSelf(userId: string, actor: Actor, what: string): void {
  if (userId === actor.userId) throw badUserInput('userId', `you cannot ${what} yourself; ask another admin`);
}

/**
 * Locks the active admins' rows before the target's, in id order, in every action that may remove an
 * admin: two admins acting on each other then queue instead of deadlocking.
 */
async function lockActiveAdmins(tx: AuthTx): Promise<{ id: string }[]> {
  return tx.$queryRaw<{ id: string }[]>`
    SELECT id FROM auth.users WHERE role = 'ADMIN' AND status = 'ACTIVE' AND erased_at IS NULL ORDER BY id FOR UPDATE`;
}

async function lockUser(tx: AuthTx, userId: string): Promise<LockedUser> {
  const [user] = await tx.$queryRaw<LockedUser[]>`
    SELECT id, email, role::text AS role, status::text AS status, erased_at, state_version FROM auth.users WHERE id = ${userId}::uuid FOR UPDATE`;
  if (!user) throw notFound(`No user with id ${userId}`);
  return user;
}

/** Refuses a change that would leave no active admin (the admins' rows are locked, so two such changes queue). */
export function assertAnActiveAdminRemains(admins: { id: string }[], losingAdmin: string): void {
  if (admins.every((admin) => admin.id === losingAdmin)) throw conflict('This would leave no active admin; promote another admin first');
}

/**
 * Admin checks its caller against its own view of accounts, which may lag; auth, which owns accounts,
 * checks again against the locked rows that the action itself reads.
 */
function assertActorIsAdmin(admins: { id: string }[], actor: Actor): void {
  if (!admins.some((admin) => admin.id === actor.userId)) throw forbidden('This account is no longer an active admin');
}

export interface AccountActionResult {
  userId: string;
  /** The audit entry, or null when the account already was as asked and nothing changed. */
  audit: AuditRecord | null;
}

const TRANSACTION = { maxWait: 10_000, timeout: 15_000 };

/** Suspends a user: status, every sign-in ended, the news and the audit entry, in one transaction. */
export function suspendUser(db: AuthDb, actor: Actor, userId: string, reason: string): Promise<AccountActionResult> {
  assertNotSelf(userId, actor, 'suspend');
  return db.$transaction(async (tx) => {
    const admins = await lockActiveAdmins(tx);
    assertActorIsAdmin(admins, actor);
    const user = await lockUser(tx, userId);
    if (user.erased_at) throw conflict('This user has been erased');
    if (user.status === 'SUSPENDED') return { userId, audit: null };
    if (user.role === 'ADMIN') assertAnActiveAdminRemains(admins, user.id);
    const account = await changeAccount(tx, user, { status: 'SUSPENDED' });
    const sessionsRevoked = await endSessions(tx, user.id, 'suspended');
    // The reason is about the user: it travels as details, which erasure removes, not in the permanent payload.
    const payload = { before: { status: user.status }, after: { status: 'SUSPENDED' }, sessionsRevoked };
    const record = await audit(tx, actor, user, 'user.suspend', payload, { details: { reason }, account });
    return { userId, audit: record };
  }, TRANSACTION);
}

/** Lifts a suspension (the ended sign-ins stay ended: the user signs in again). */
export function reinstateUser(db: AuthDb, actor: Actor, userId: string): Promise<AccountActionResult> {
  assertNotSelf(userId, actor, 'reinstate');
  return db.$transaction(async (tx) => {
    assertActorIsAdmin(await lockActiveAdmins(tx), actor);
    const user = await lockUser(tx, userId);
    if (user.erased_at) throw conflict('This user has been erased and cannot be reinstated');
    if (user.status === 'ACTIVE') return { userId, audit: null };
    const account = await changeAccount(tx, user, { status: 'ACTIVE' });
    const record = await audit(tx, actor, user, 'user.reinstate', { before: { status: user.status }, after: { status: 'ACTIVE' } }, { account });
    return { userId, audit: record };
  }, TRANSACTION);
}

/** Changes a user's role; nobody changes their own, and the last active admin stays an admin. */
export function setUserRole(db: AuthDb, actor: Actor, userId: string, role: Role): Promise<AccountActionResult> {
  assertNotSelf(userId, actor, 'change the role of');
  return db.$transaction(async (tx) => {
    const admins = await lockActiveAdmins(tx);
    assertActorIsAdmin(admins, actor);
    const user = await lockUser(tx, userId);
    if (user.erased_at) throw conflict('This user has been erased');
    if (user.role === role) return { userId, audit: null };
    if (user.role === 'ADMIN') assertAnActiveAdminRemains(admins, user.id);
    const account = await changeAccount(tx, user, { role });
    const record = await audit(tx, actor, user, 'user.role_change', { before: { role: user.role }, after: { role } }, { account });
    return { userId, audit: record };
  }, TRANSACTION);
}

export interface ErasureResult extends ErasureReport {
  /** The erased account's state, which the other services record as they erase their part. */
  account: AccountChanged;
}

/** The email an erased user keeps: unique, obviously not an address, and saying nothing about them. */
export function tombstoneEmail(userId: string): string {
  return `erased+${userId}@erased.invalid`;
}

/**
 * Erases auth's part of a user: credentials, sign-ins and throttle counters (found by the keys
 * `throttleKeys` gives their e-mail) deleted, the email replaced by a tombstone, the account marked erased
 * everywhere. Repeating it answers what the first time did.
 */
export function eraseUser(db: AuthDb, actor: Actor, userId: string, throttleKeys: ThrottleKeys): Promise<ErasureResult> {
  assertNotSelf(userId, actor, 'erase');
  return db.$transaction(async (tx) => {
    const admins = await lockActiveAdmins(tx);
    const user = await lockUser(tx, userId);
    // A repeat of a finished erasure (the saga resuming) answers what it did, whoever asks now.
    if (user.erased_at) {
      const done = await tx.erasure.findUnique({ where: { userId } });
      const changes = (done?.changes as unknown as ErasureChange[] | undefined) ?? [];
      return { alreadyErased: true, erasedAt: user.erased_at.toISOString(), changes, account: published(userId, user) };
    }
    assertActorIsAdmin(admins, actor);
    if (user.role === 'ADMIN' && user.status === 'ACTIVE') assertAnActiveAdminRemains(admins, user.id);
    const erasedAt = new Date();
    const families = await tx.$queryRaw<EndedFamily[]>`
      SELECT family_id, max(created_at) AS newest FROM auth.sessions WHERE user_id = ${userId}::uuid GROUP BY family_id`;
    const changes: ErasureChange[] = [
      { table: 'password_credentials', action: 'deleted', rows: await tx.$executeRaw`DELETE FROM auth.password_credentials WHERE user_id = ${userId}::uuid` },
      { table: 'sessions', action: 'deleted', rows: await tx.$executeRaw`DELETE FROM auth.sessions WHERE user_id = ${userId}::uuid` },
      {
        table: 'rate_limits',
        action: 'deleted',
        rows: await tx.rateLimit.deleteMany({ where: { key: { in: throttleKeys.erasable(user.email) } } }).then((result) => result.count),
      },
      { table: 'users', action: 'tombstoned', rows: 1 },
    ];
    const account = await changeAccount(tx, user, { status: 'SUSPENDED', erasedAt, email: tombstoneEmail(userId) });
    await publishEndedSessions(tx, userId, families, erasedAt);
    await tx.erasure.create({ data: { userId, erasedAt, changes: changes as unknown as AuthPrisma.InputJsonArray } });
    return { alreadyErased: false, erasedAt: erasedAt.toISOString(), changes, account };
  }, TRANSACTION);
}
