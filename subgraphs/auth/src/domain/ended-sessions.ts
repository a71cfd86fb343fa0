// Ending sign-ins: the refresh-token families revoked, and the other services told which access tokens no longer count.
import type { ServiceTransaction } from '@fedstack/shared-db';
import { ACCOUNT_TOPICS, ACCOUNT_VIEW_SERVICES, enqueue, type SessionsRevoked } from '@fedstack/service-kit';
import { MAX_ACCESS_TOKEN_TTL_SECONDS } from '../config';

type AuthTx = ServiceTransaction<'auth'>;

/** A sign-in (refresh-token family) and when its newest refresh token was issued. */
export interface EndedFamily {
  family_id: string;
  newest: Date;
}

/** Clocks differ between servers: the views remember an ended sign-in this much longer than strictly needed. */
const CLOCK_MARGIN_MS = 60_000;
/** Sign-ins per event, so that an account with thousands of them still produces events a service accepts. */
const FAMILIES_PER_EVENT = 500;

/**
 * Ends sign-ins (all of a user's, or one family, or all but one) and tells the other services, in the
 * caller's transaction. The user's row is locked first, as a refresh does, so that a refresh racing the
 * revocation either finishes before it (and its new token is revoked too) or finds the sign-in ended.
 */
export async function endSessions(tx: AuthTx, userId: string, reason: string, scope: { familyId?: string; exceptFamilyId?: string } = {}): Promise<number> {
  await tx.$queryRaw`SELECT id FROM auth.users WHERE id = ${userId}::uuid FOR NO KEY UPDATE`;
  const revokedAt = new Date();
  const families = await tx.$queryRaw<(EndedFamily & { rows: number })[]>`
    WITH ended AS (
      UPDATE auth.sessions SET revoked_at = ${revokedAt}, revoked_reason = ${reason}
      WHERE user_id = ${userId}::uuid AND revoked_at IS NULL
        AND (${scope.familyId ?? null}::uuid IS NULL OR family_id = ${scope.familyId ?? null}::uuid)
        AND (${scope.exceptFamilyId ?? null}::uuid IS NULL OR family_id <> ${scope.exceptFamilyId ?? null}::uuid)
      RETURNING family_id, created_at)
    SELECT family_id, max(created_at) AS newest, count(*)::int AS rows FROM ended GROUP BY family_id`;
  await publishEndedSessions(tx, userId, families, revokedAt);
  return families.reduce((sum, family) => sum + family.rows, 0);
}

/**
 * Tells the views which sign-ins ended. Only those that may still have a live access token matter: one
 * whose newest refresh token is older than the longest lifetime an access token may have has none left.
 * The longest, not ACCESS_TOKEN_TTL_SECONDS now: lowered (after an incident, say), it left the tokens
 * issued before working at the other services after their sign-in had ended.
 */
export async function publishEndedSessions(tx: AuthTx, userId: string, families: EndedFamily[], revokedAt: Date): Promise<void> {
  const lifetimeMs = MAX_ACCESS_TOKEN_TTL_SECONDS * 1000 + CLOCK_MARGIN_MS;
  const live = families.filter((family) => family.newest.getTime() > revokedAt.getTime() - lifetimeMs).map((family) => family.family_id);
  for (let start = 0; start < live.length; start += FAMILIES_PER_EVENT) {
    const payload: SessionsRevoked = {
      userId,
      familyIds: live.slice(start, start + FAMILIES_PER_EVENT),
      revokedAt: revokedAt.toISOString(),
      expiresAt: new Date(revokedAt.getTime() + lifetimeMs).toISOString(),
    };
    await enqueue(tx, 'auth', { topic: ACCOUNT_TOPICS.sessionsRevoked, payload, destinations: ACCOUNT_VIEW_SERVICES });
  }
}
