// Refresh tokens: a sign-in started, rotated on every use, and ended; a reused token ends its whole sign-in.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { forbidden, unauthenticated } from '@fedstack/runtime';
import type { ServiceClient, ServiceTransaction, UserRecord } from '@fedstack/shared-db';
import { endSessions } from './ended-sessions';

type AuthDb = ServiceClient<'auth'>;
type AuthTx = ServiceTransaction<'auth'>;

/** Where a sign-in came from, kept for the user's own security overview. */
export interface ClientInfo {
  userAgent: string | undefined;
  ipAddress: string | undefined;
}

export interface IssuedRefreshToken {
  token: string;
  expiresAt: Date;
  /** The sign-in (family) the token belongs to; access tokens carry it as `sid`. */
  familyId: string;
}

/** Refresh tokens are 256 random bits; only their SHA-256 is stored. */
export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * Expired refresh tokens each new one removes. More than the one it adds, so that the table holds the
 * tokens of live sign-ins (and a day of expired ones) rather than every token ever issued, with no
 * scheduler to run.
 */
export const EXPIRED_REMOVED_PER_TOKEN = 4;

/**
 * Removes a few refresh tokens expired for a day (kept that long so that one presented late is told it
 * expired), oldest first. Only a token no other replaced: a sign-in's chain goes from its oldest end, so a
 * removal never has a reference to clear (the foreign key's SET NULL), which could wait on a row another
 * transaction holds, a refresh or a revocation, while that one waits on the rows this takes. SKIP LOCKED:
 * two of these at once take different rows, never wait.
 */
async function removeExpiredTokens(tx: AuthTx): Promise<void> {
  await tx.$executeRaw`
    DELETE FROM auth.sessions WHERE id IN (
      SELECT s.id FROM auth.sessions s
      WHERE s.expires_at < now() - interval '1 day' AND NOT EXISTS (SELECT 1 FROM auth.sessions r WHERE r.replaced_by_id = s.id)
      ORDER BY s.expires_at LIMIT ${EXPIRED_REMOVED_PER_TOKEN} FOR UPDATE SKIP LOCKED)`;
}

async function insertRefreshToken(tx: AuthTx, userId: string, familyId: string, ttlSeconds: number, client: ClientInfo) {
  await removeExpiredTokens(tx);
  const token = randomBytes(32).toString('base64url');
  const expiresAt = new Date(Date.now() + ttlSeconds * 1000);
  const session = await tx.session.create({
    data: {
      userId,
      familyId,
      tokenHash: hashRefreshToken(token),
      expiresAt,
      userAgent: client.userAgent ?? null,
      ipAddress: client.ipAddress ?? null,
    },
    select: { id: true },
  });
  return { id: session.id, issued: { token, expiresAt, familyId } };
}

/** Starts a new sign-in: a new family with its first refresh token. */
export async function startSession(tx: AuthTx, userId: string, ttlSeconds: number, client: ClientInfo): Promise<IssuedRefreshToken> {
  return (await insertRefreshToken(tx, userId, randomUUID(), ttlSeconds, client)).issued;
}

interface LockedSession {
  id: string;
  user_id: string;
  family_id: string;
  expires_at: Date;
  rotated_at: Date | null;
  revoked_at: Date | null;
}

type RotationOutcome =
  { kind: 'rotated'; refresh: IssuedRefreshToken; user: UserRecord } | { kind: 'reused' } | { kind: 'invalid'; reason: string } | { kind: 'suspended' };

/**
 * Exchanges a refresh token for a new one in the same family. The row is locked, so of two concurrent
 * uses exactly one rotates; presenting an already rotated token again is treated as theft and revokes
 * the whole family (RFC 9700 §4.14.2), the newest token included.
 */
export async function rotateRefreshToken(
  db: AuthDb,
  token: string,
  ttl: { refreshSeconds: number; accessSeconds: number },
  client: ClientInfo,
): Promise<{ refresh: IssuedRefreshToken; user: UserRecord }> {
  const outcome = await db.$transaction<RotationOutcome>(async (tx) => {
    // The user's row first, as every revocation does (endSessions): a refresh and a revocation of the same
    // user take turns, so a token this refresh issues is never missed by a revocation running beside it.
    await tx.$queryRaw`
      SELECT u.id FROM auth.users u WHERE u.id = (SELECT user_id FROM auth.sessions WHERE token_hash = ${hashRefreshToken(token)})
      FOR NO KEY UPDATE`;
    const [session] = await tx.$queryRaw<LockedSession[]>`
      SELECT id, user_id, family_id, expires_at, rotated_at, revoked_at
      FROM auth.sessions WHERE token_hash = ${hashRefreshToken(token)} FOR UPDATE`;
    if (!session || session.revoked_at) return { kind: 'invalid', reason: 'Refresh token is not valid: sign in again' };
    if (session.rotated_at) {
      await endSessions(tx, session.user_id, 'refresh_token_reused', ttl.accessSeconds, { familyId: session.family_id });
      return { kind: 'reused' };
    }
    if (session.expires_at.getTime() <= Date.now()) return { kind: 'invalid', reason: 'Refresh token expired: sign in again' };
    const user = await tx.user.findUniqueOrThrow({ where: { id: session.user_id } });
    if (user.status !== 'ACTIVE') {
      await endSessions(tx, user.id, 'user_suspended', ttl.accessSeconds, { familyId: session.family_id });
      return { kind: 'suspended' };
    }
    const next = await insertRefreshToken(tx, user.id, session.family_id, ttl.refreshSeconds, client);
    await tx.session.update({ where: { id: session.id }, data: { rotatedAt: new Date(), replacedById: next.id } });
    return { kind: 'rotated', refresh: next.issued, user };
  });
  // Revocations above are committed before the error is raised.
  switch (outcome.kind) {
    case 'rotated':
      return { refresh: outcome.refresh, user: outcome.user };
    case 'reused':
      throw unauthenticated('Refresh token was already used: this sign-in has been ended on every device; sign in again');
    case 'suspended':
      throw forbidden('This account is suspended');
    case 'invalid':
      throw unauthenticated(outcome.reason);
  }
}

/** Ends the sign-in a refresh token belongs to, and tells the other services; false if the token is unknown. */
export async function revokeFamilyOf(db: AuthDb, token: string, accessTokenTtlSeconds: number): Promise<boolean> {
  return db.$transaction(async (tx) => {
    const session = await tx.session.findUnique({ where: { tokenHash: hashRefreshToken(token) }, select: { familyId: true, userId: true } });
    if (!session) return false;
    await endSessions(tx, session.userId, 'logout', accessTokenTtlSeconds, { familyId: session.familyId });
    return true;
  });
}
