import type { ServiceClient } from '@fedstack/shared-db';
import { rateLimited } from '@fedstack/service-kit';
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

function keyList(keys: ThrottleKeys): string[] {
  return keys.address ? [keys.account, keys.address] : [keys.account];
}

/** Refuses with RATE_LIMITED (and how long to wait) if the account or the address is locked. */
export async function assertNotThrottled(db: AuthDb, keys: ThrottleKeys): Promise<void> {
  const [row] = await db.$queryRaw<{ retry_after: number | null }[]>`
    SELECT ceil(extract(epoch FROM max(locked_until) - now()))::int AS retry_after
    FROM auth.login_throttles WHERE key = ANY(${keyList(keys)}) AND locked_until > now()`;
  if (row?.retry_after) throw rateLimited(Math.max(1, row.retry_after), 'Too many failed sign-in attempts');
}

/** Counts one failure against each key; a key that reaches its limit is locked and starts counting afresh. */
export async function recordLoginFailure(db: AuthDb, keys: ThrottleKeys, policy: LoginThrottlePolicy): Promise<void> {
  const limits: [string, number][] = [[keys.account, policy.maxFailuresPerAccount]];
  if (keys.address) limits.push([keys.address, policy.maxFailuresPerAddress]);
  for (const [key, maxFailures] of limits) {
    const [counter] = await db.$queryRaw<{ failures: number }[]>`
      INSERT INTO auth.login_throttles AS t (key, failures, window_start, updated_at) VALUES (${key}, 1, now(), now())
      ON CONFLICT (key) DO UPDATE SET
        failures = CASE WHEN t.window_start < now() - ${policy.windowSeconds}::int * interval '1 second' THEN 1 ELSE t.failures + 1 END,
        window_start = CASE WHEN t.window_start < now() - ${policy.windowSeconds}::int * interval '1 second' THEN now() ELSE t.window_start END,
        updated_at = now()
      RETURNING failures`;
    if ((counter?.failures ?? 0) >= maxFailures) {
      await db.$executeRaw`
        UPDATE auth.login_throttles SET locked_until = now() + ${policy.lockoutSeconds}::int * interval '1 second',
          failures = 0, window_start = now(), updated_at = now()
        WHERE key = ${key}`;
    }
  }
}

/** A successful sign-in clears the account's counter (the address keeps its own). */
export async function clearAccountFailures(db: AuthDb, keys: ThrottleKeys): Promise<void> {
  await db.loginThrottle.deleteMany({ where: { key: keys.account } });
}
