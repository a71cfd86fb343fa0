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
 * Ended sign-ins whose tokens each new token removes. More than the one sign-in a new one may start, so
 * that the table holds the live sign-ins rather than every token ever issued, with no scheduler to run.
 */
const ENDED_SIGN_INS_REMOVED_PER_TOKEN = 2;

/**
 * Removes the tokens of a few sign-ins whose newest token expired more than a day and a minute ago,
 * oldest first. A sign-in that can still be refreshed keeps every token it rotated, so that one of them
 * presented again still ends it (rotateRefreshToken). The day outlasts any access token of the sign-in
 * (ACCESS_TOKEN_TTL_SECONDS is at most a day; the minute covers the moment between the two tokens' issue
 * and the clocks of the process and the database), which the account check (account-state.ts) would
 * otherwise find ended while it is still valid. The sign-in's user row is locked first, as every refresh
 * and revocation locks it before its tokens, so none of them holds a token this deletes; SKIP LOCKED
 * leaves a user who is busy for another time rather than waiting.
 */
async function removeEndedSignIns(tx: AuthTx): Promise<void> {
  await tx.$executeRaw`
    WITH ended AS (
      SELECT newest.family_id FROM auth.sessions newest JOIN auth.users u ON u.id = newest.user_id
      WHERE newest.replaced_by_id IS NULL AND newest.expires_at < now() - interval '1 day 1 minute'
      ORDER BY newest.expires_at LIMIT ${ENDED_SIGN_INS_REMOVED_PER_TOKEN}
      FOR NO KEY UPDATE OF u SKIP LOCKED)
    DELETE FROM auth.sessions WHERE family_id IN (SELECT family_id FROM ended)`;
}

async function insertRefreshToken(tx: AuthTx, userId: string, familyId: string, ttlSeconds: number, client: ClientInfo) {
  await removeEndedSignIns(tx);
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
  /** Whether the token that replaced this one has been used in its turn. */
  successor_used: boolean;
}

type RotationOutcome =
  | { kind: 'rotated'; refresh: IssuedRefreshToken; user: UserRecord }
  | { kind: 'reused' }
  | { kind: 'raced' }
  | { kind: 'invalid'; reason: string }
  | { kind: 'suspended' };

/**
 * How long after a token's rotation presenting it again is taken for a race rather than theft, as long as
 * its successor has not been used: two tabs refreshing at once, or a client retrying a refresh whose answer
 * it lost. Ending the sign-in then would end it under the refresh that won, whose new tokens would no
 * longer work.
 */
const REUSE_GRACE_MS = 10_000;

/**
 * Exchanges a refresh token for a new one in the same family. The row is locked, so of two concurrent
 * uses exactly one rotates; presenting an already rotated token again is treated as theft and revokes
 * the whole family (RFC 9700 §4.14.2), the newest token included, unless it comes within REUSE_GRACE_MS
 * of the rotation and before the successor's use: then it is refused and the sign-in goes on. (A family's
 * tokens are kept until a day after its newest one expired: removeEndedSignIns.)
 */
export async function rotateRefreshToken(
  db: AuthDb,
  token: string,
  refreshSeconds: number,
  client: ClientInfo,
): Promise<{ refresh: IssuedRefreshToken; user: UserRecord }> {
  const outcome = await db.$transaction<RotationOutcome>(async (tx) => {
    // The user's row first, as every revocation does (endSessions): a refresh and a revocation of the same
    // user take turns, so a token this refresh issues is never missed by a revocation running beside it.
    await tx.$queryRaw`
      SELECT u.id FROM auth.users u WHERE u.id = (SELECT user_id FROM auth.sessions WHERE token_hash = ${hashRefreshToken(token)})
      FOR NO KEY UPDATE`;
    const [session] = await tx.$queryRaw<LockedSession[]>`
      SELECT s.id, s.user_id, s.family_id, s.expires_at, s.rotated_at, s.revoked_at, next.rotated_at IS NOT NULL AS successor_used
      FROM auth.sessions s LEFT JOIN auth.sessions next ON next.id = s.replaced_by_id
      WHERE s.token_hash = ${hashRefreshToken(token)} FOR UPDATE OF s`;
    if (!session || session.revoked_at) return { kind: 'invalid', reason: 'Refresh token is not valid: sign in again' };
    if (session.rotated_at && !session.successor_used && Date.now() - session.rotated_at.getTime() < REUSE_GRACE_MS) return { kind: 'raced' };
    if (session.rotated_at) {
      await endSessions(tx, session.user_id, 'refresh_token_reused', { familyId: session.family_id });
      return { kind: 'reused' };
    }
    if (session.expires_at.getTime() <= Date.now()) return { kind: 'invalid', reason: 'Refresh token expired: sign in again' };
    const user = await tx.user.findUniqueOrThrow({ where: { id: session.user_id } });
    if (user.status !== 'ACTIVE') {
      await endSessions(tx, user.id, 'user_suspended', { familyId: session.family_id });
      return { kind: 'suspended' };
    }
    const next = await insertRefreshToken(tx, user.id, session.family_id, refreshSeconds, client);
    await tx.session.update({ where: { id: session.id }, data: { rotatedAt: new Date(), replacedById: next.id } });
    return { kind: 'rotated', refresh: next.issued, user };
  });
  // Revocations above are committed before the error is raised.
  switch (outcome.kind) {
    case 'rotated':
      return { refresh: outcome.refresh, user: outcome.user };
    case 'reused':
      throw unauthenticated('Refresh token was already used: this sign-in has been ended on every device; sign in again');
    case 'raced':
      throw unauthenticated('Refresh token was used a moment ago: continue with the tokens that refresh returned');
    case 'suspended':
      throw forbidden('This account is suspended');
    case 'invalid':
      throw unauthenticated(outcome.reason);
  }
}

/** Ends the sign-in a refresh token belongs to, and tells the other services; false if the token is unknown. */
export async function revokeFamilyOf(db: AuthDb, token: string): Promise<boolean> {
  return db.$transaction(async (tx) => {
    const session = await tx.session.findUnique({ where: { tokenHash: hashRefreshToken(token) }, select: { familyId: true, userId: true } });
    if (!session) return false;
    await endSessions(tx, session.userId, 'logout', { familyId: session.familyId });
    return true;
  });
}
