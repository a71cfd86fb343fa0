import type { ServiceClient } from '@fedstack/shared-db';
import { rateLimited } from '@fedstack/runtime';
import type { LoginThrottlePolicy } from '../config';

type AuthDb = ServiceClient<'auth'>;

/**
 * Failed-login counters live in PostgreSQL, so they hold across restarts and across several auth
 * instances. Counted per account (by email, known or not, so that unknown emails behave the same) and
 * per client address.
 */
export interface ThrottleKeys {
  account: string;
  address?: string;
}

export function throttleKeys(email: string, clientAddress: string | undefined): ThrottleKeys {
  return { account: `account:${email}`, ...(clientAddress ? { address: `address:${clientAddress}` } : {}) };
}

/**
 * Takes one sign-in attempt against each key before the password is checked, so that guesses sent in
 * parallel are counted too. Each key's row is updated under its row lock, so attempts are numbered one
 * after another: an attempt past the limit locks the key, and every attempt while it is locked is refused
 * with RATE_LIMITED and the seconds left. A lockout that has ended, or a window that has passed, starts
 * the count afresh.
 */
export async function takeLoginAttempt(db: AuthDb, keys: ThrottleKeys, policy: LoginThrottlePolicy): Promise<void> {
  const limits: [string, number][] = [[keys.account, policy.maxFailuresPerAccount]];
  if (keys.address) limits.push([keys.address, policy.maxFailuresPerAddress]);
  for (const [key, maxFailures] of limits) {
    const [counter] = await db.$queryRaw<{ failures: number; retry_after: number | null }[]>`
      INSERT INTO auth.login_throttles AS t (key, failures, window_start, updated_at) VALUES (${key}, 1, now(), now())
      ON CONFLICT (key) DO UPDATE SET
        failures = CASE WHEN t.locked_until <= now() OR t.window_start < now() - ${policy.windowSeconds}::int * interval '1 second'
                        THEN 1 ELSE t.failures + 1 END,
        window_start = CASE WHEN t.locked_until <= now() OR t.window_start < now() - ${policy.windowSeconds}::int * interval '1 second'
                            THEN now() ELSE t.window_start END,
        locked_until = CASE WHEN t.locked_until <= now() THEN NULL ELSE t.locked_until END,
        updated_at = now()
      RETURNING failures, CASE WHEN locked_until > now() THEN ceil(extract(epoch FROM locked_until - now()))::int END AS retry_after`;
    if (counter?.retry_after) throw rateLimited(Math.max(1, counter.retry_after), 'Too many failed sign-in attempts');
    if ((counter?.failures ?? 0) > maxFailures) {
      await db.$executeRaw`
        UPDATE auth.login_throttles SET locked_until = now() + ${policy.lockoutSeconds}::int * interval '1 second', updated_at = now()
        WHERE key = ${key}`;
      throw rateLimited(policy.lockoutSeconds, 'Too many failed sign-in attempts');
    }
  }
}

/** A successful sign-in clears the account's counter and gives the address its attempt back. */
export async function settleSuccessfulLogin(db: AuthDb, keys: ThrottleKeys): Promise<void> {
  await db.loginThrottle.deleteMany({ where: { key: keys.account } });
  if (keys.address) {
    await db.$executeRaw`UPDATE auth.login_throttles SET failures = greatest(failures - 1, 0), updated_at = now() WHERE key = ${keys.address}`;
  }
}
