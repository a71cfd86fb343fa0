import { crossServiceTransaction, type CrossServiceTransaction, type ServiceClient } from '@fedstack/shared-db';
import { badUserInput, conflict, isUuid, notFound } from '@fedstack/service-kit';
import { audit } from './audit';

type AdminDb = ServiceClient<'admin'>;
type AdminTx = CrossServiceTransaction<'admin'>;
type Role = 'USER' | 'ADMIN';

/** Who acts, and the request they act in (recorded in the audit entry). */
export interface Actor {
  userId: string;
  requestId: string;
}

const REASON_MAX = 500;

interface LockedUser {
  id: string;
  role: Role;
  status: 'ACTIVE' | 'SUSPENDED';
  erased_at: Date | null;
}

/** The target's id in canonical (lower-case) form; refuses anything else, and the actor themself. */
function assertTarget(userId: string, actor: Actor, what: string): string {
  if (!isUuid(userId)) throw badUserInput('userId', `must be a UUID (got "${userId.slice(0, 64)}")`);
  const id = userId.toLowerCase();
  if (id === actor.userId.toLowerCase()) throw badUserInput('userId', `you cannot ${what} yourself; ask another admin`);
  return id;
}

/**
 * Locks the active admins' rows before the target's, in id order, in every operation that may remove an
 * admin: two admins acting on each other then queue instead of deadlocking.
 */
async function lockActiveAdmins(tx: AdminTx): Promise<void> {
  await tx.$queryRaw`SELECT id FROM auth.users WHERE role = 'ADMIN' AND status = 'ACTIVE' AND erased_at IS NULL ORDER BY id FOR UPDATE`;
}

/** Locks the target user's row for the rest of the transaction. */
async function lockUser(tx: AdminTx, userId: string): Promise<LockedUser> {
  const [user] = await tx.$queryRaw<LockedUser[]>`
    SELECT id, role::text AS role, status::text AS status, erased_at FROM auth.users WHERE id = ${userId}::uuid FOR UPDATE`;
  if (!user) throw notFound(`No user with id ${userId}`);
  return user;
}

/**
 * Refuses a change that would leave no active admin. The active admins' rows are locked first, so two
 * admins demoting or suspending each other at the same moment cannot both succeed.
 */
export async function assertAnActiveAdminRemains(tx: AdminTx, losingAdmin: string): Promise<void> {
  const admins = await tx.$queryRaw<{ id: string }[]>`
    SELECT id FROM auth.users WHERE role = 'ADMIN' AND status = 'ACTIVE' AND erased_at IS NULL ORDER BY id FOR UPDATE`;
  if (admins.every((admin) => admin.id === losingAdmin)) throw conflict('This would leave no active admin; promote another admin first');
}

async function revokeSessions(tx: AdminTx, userId: string, reason: string): Promise<number> {
  const { count } = await tx.session.updateMany({ where: { userId, revokedAt: null }, data: { revokedAt: new Date(), revokedReason: reason } });
  return count;
}

/** Suspends a user: status, every session revoked and the audit entry, all in one transaction. */
export async function suspendUser(db: AdminDb, actor: Actor, requestedId: string, reasonText: string): Promise<{ id: string }> {
  const userId = assertTarget(requestedId, actor, 'suspend');
  const reason = reasonText.trim();
  if (reason.length < 1 || [...reason].length > REASON_MAX) throw badUserInput('reason', `must be 1 to ${REASON_MAX} characters`);
  return crossServiceTransaction(db, async (tx) => {
    await lockActiveAdmins(tx);
    const user = await lockUser(tx, userId);
    if (user.erased_at) throw conflict('This user has been erased');
    if (user.status === 'SUSPENDED') return { id: user.id };
    if (user.role === 'ADMIN') await assertAnActiveAdminRemains(tx, user.id);
    await tx.user.update({ where: { id: user.id }, data: { status: 'SUSPENDED' } });
    const sessionsRevoked = await revokeSessions(tx, user.id, 'suspended');
    await audit(tx, {
      actorId: actor.userId,
      action: 'user.suspend',
      targetType: 'User',
      targetId: user.id,
      requestId: actor.requestId,
      payload: { reason, before: { status: user.status }, after: { status: 'SUSPENDED' }, sessionsRevoked },
    });
    return { id: user.id };
  });
}

/** Lifts a suspension (the revoked sessions stay revoked: the user signs in again). */
export async function reinstateUser(db: AdminDb, actor: Actor, requestedId: string): Promise<{ id: string }> {
  const userId = assertTarget(requestedId, actor, 'reinstate');
  return crossServiceTransaction(db, async (tx) => {
    const user = await lockUser(tx, userId);
    if (user.erased_at) throw conflict('This user has been erased and cannot be reinstated');
    if (user.status === 'ACTIVE') return { id: user.id };
    await tx.user.update({ where: { id: user.id }, data: { status: 'ACTIVE' } });
    await audit(tx, {
      actorId: actor.userId,
      action: 'user.reinstate',
      targetType: 'User',
      targetId: user.id,
      requestId: actor.requestId,
      payload: { before: { status: user.status }, after: { status: 'ACTIVE' } },
    });
    return { id: user.id };
  });
}

/** Changes a user's role; nobody changes their own, and the last active admin stays an admin. */
export async function setUserRole(db: AdminDb, actor: Actor, requestedId: string, role: Role): Promise<{ id: string }> {
  const userId = assertTarget(requestedId, actor, 'change the role of');
  return crossServiceTransaction(db, async (tx) => {
    await lockActiveAdmins(tx);
    const user = await lockUser(tx, userId);
    if (user.erased_at) throw conflict('This user has been erased');
    if (user.role === role) return { id: user.id };
    if (user.role === 'ADMIN') await assertAnActiveAdminRemains(tx, user.id);
    await tx.user.update({ where: { id: user.id }, data: { role } });
    await audit(tx, {
      actorId: actor.userId,
      action: 'user.role_change',
      targetType: 'User',
      targetId: user.id,
      requestId: actor.requestId,
      payload: { before: { role: user.role }, after: { role } },
    });
    return { id: user.id };
  });
}

export interface ErasureChange {
  schema: string;
  table: string;
  action: 'deleted' | 'anonymised' | 'tombstoned';
  rows: number;
}

export interface ErasureResult {
  userId: string;
  alreadyErased: boolean;
  erasedAt: Date;
  changes: ErasureChange[];
}

/** The email an erased user keeps: unique, obviously not an address, and saying nothing about them. */
export function tombstoneEmail(userId: string): string {
  return `erased+${userId}@erased.invalid`;
}

/**
 * Removes a user's personal data from all four schemas in one transaction and reports what changed.
 * Payments stay (amounts, currencies and statuses are accounting records) without their description
 * or card digits; audit entries stay, since they hold no personal data. A second call changes nothing.
 */
export async function eraseUser(db: AdminDb, actor: Actor, requestedId: string): Promise<ErasureResult> {
  const userId = assertTarget(requestedId, actor, 'erase');
  return crossServiceTransaction(db, async (tx) => {
    await lockActiveAdmins(tx);
    const user = await lockUser(tx, userId);
    if (user.erased_at) return { userId, alreadyErased: true, erasedAt: user.erased_at, changes: [] };
    if (user.role === 'ADMIN' && user.status === 'ACTIVE') await assertAnActiveAdminRemains(tx, user.id);
    const [current] = await tx.$queryRaw<{ email: string }[]>`SELECT email FROM auth.users WHERE id = ${userId}::uuid`;
    const erasedAt = new Date();
    const change = (schema: string, table: string, action: ErasureChange['action'], rows: number): ErasureChange => ({ schema, table, action, rows });
    const changes = [
      change('auth', 'password_credentials', 'deleted', await tx.$executeRaw`DELETE FROM auth.password_credentials WHERE user_id = ${userId}::uuid`),
      change('auth', 'sessions', 'deleted', await tx.$executeRaw`DELETE FROM auth.sessions WHERE user_id = ${userId}::uuid`),
      change('auth', 'login_throttles', 'deleted', await tx.$executeRaw`DELETE FROM auth.login_throttles WHERE key = ${`account:${current?.email ?? ''}`}`),
      change(
        'auth',
        'users',
        'tombstoned',
        await tx.$executeRaw`UPDATE auth.users SET email = ${tombstoneEmail(userId)}, status = 'SUSPENDED', erased_at = ${erasedAt}, updated_at = now()
                             WHERE id = ${userId}::uuid`,
      ),
      change('profile', 'profiles', 'deleted', await tx.$executeRaw`DELETE FROM profile.profiles WHERE user_id = ${userId}::uuid`),
      change(
        'payments',
        'payments',
        'anonymised',
        await tx.$executeRaw`UPDATE payments.payments SET description = NULL, method_last4 = NULL, anonymised_at = ${erasedAt}, updated_at = now()
                             WHERE user_id = ${userId}::uuid`,
      ),
      change('payments', 'idempotency_records', 'deleted', await tx.$executeRaw`DELETE FROM payments.idempotency_records WHERE user_id = ${userId}::uuid`),
    ];
    await audit(tx, {
      actorId: actor.userId,
      action: 'user.erase',
      targetType: 'User',
      targetId: userId,
      requestId: actor.requestId,
      payload: { changes: changes.map(({ schema, table, action, rows }) => ({ schema, table, action, rows })) },
    });
    return { userId, alreadyErased: false, erasedAt, changes };
  });
}
