import pg from 'pg';
import { hashPassword } from '@fedstack/shared-db';

export interface Scale {
  users: number;
  paymentsPerUser: number;
  /** One user in this many has no profile row. */
  usersWithoutProfileEvery: number;
  auditEntries: number;
}

export const BENCH_USER = { email: 'bench-1@example.com', password: 'bench-password-2026' };

/**
 * Loads the data set the benchmark runs on, in a handful of set-based statements: users (newest first
 * by a minute each), profiles for most, payments in four currencies and every status, audit entries.
 */
export async function seedScale(ownerUrl: string, scale: Scale): Promise<void> {
  const client = new pg.Client(ownerUrl);
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query(
      `INSERT INTO auth.users (email, created_at)
       SELECT 'bench-' || g || '@example.com', now() - g * interval '1 minute' FROM generate_series(1, $1::int) g`,
      [scale.users],
    );
    await client.query(
      `INSERT INTO auth.password_credentials (user_id, password_hash) SELECT id, $2 FROM auth.users WHERE email = $1`,
      [BENCH_USER.email, await hashPassword(BENCH_USER.password)],
    );
    await client.query(
      `INSERT INTO profile.profiles (user_id, display_name, locale, timezone)
       SELECT id, 'Bench user ' || substring(email from 7 for 8), 'en-GB', 'Europe/London'
       FROM auth.users WHERE email LIKE 'bench-%' AND (hashtext(email) % $1::int) <> 0`,
      [scale.usersWithoutProfileEvery],
    );
    await client.query(
      `INSERT INTO payments.payments (user_id, amount, currency, status, refunded_amount, description, created_at)
       SELECT u.id, a.amount, c.currency, s.status,
              CASE WHEN s.status = 'REFUNDED' THEN a.amount WHEN s.status = 'PARTIALLY_REFUNDED' THEN 1 ELSE 0 END,
              'Bench payment ' || g, u.created_at + g * interval '1 hour'
       FROM auth.users u
       CROSS JOIN generate_series(1, $1::int) g
       CROSS JOIN LATERAL (SELECT (ARRAY['EUR', 'USD', 'GBP', 'JPY'])[1 + g % 4] AS currency) c
       CROSS JOIN LATERAL (SELECT CASE WHEN c.currency = 'JPY' THEN (100 * (1 + g % 50))::numeric ELSE (5 + g % 200)::numeric + 0.99 END AS amount) a
       CROSS JOIN LATERAL (SELECT (ARRAY['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED', 'FAILED', 'PARTIALLY_REFUNDED', 'REFUNDED', 'PENDING'])[1 + g % 7]::payments."PaymentStatus" AS status) s
       WHERE u.email LIKE 'bench-%'`,
      [scale.paymentsPerUser],
    );
    await client.query(
      `INSERT INTO admin.audit_entries (actor_id, action, target_type, target_id, payload, created_at)
       SELECT (SELECT id FROM auth.users WHERE role = 'ADMIN' LIMIT 1), (ARRAY['user.suspend', 'user.reinstate', 'user.role_change'])[1 + g % 3],
              'User', u.id::text, '{"reason": "bench"}', now() - g * interval '1 second'
       FROM generate_series(1, $1::int) g
       JOIN LATERAL (SELECT id FROM auth.users WHERE email = 'bench-' || (1 + g % $2::int) || '@example.com') u ON true`,
      [scale.auditEntries, scale.users],
    );
    await client.query('COMMIT');
    await client.query('ANALYZE');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    await client.end();
  }
}
