// The benchmark's data set: how large it is, and how it is loaded.
import type { Service } from '@fedstack/runtime';
import pg from 'pg';
import { hashPassword, ownerUrlFor } from '@fedstack/shared-db';

export interface Scale {
  users: number;
  paymentsPerUser: number;
  /** One user in this many has no profile row. */
  usersWithoutProfileEvery: number;
  auditEntries: number;
}

export const BENCH_USER = { email: 'bench-1@example.com', password: 'bench-password-2026' };

/** One service's database, as its owner, in one transaction. */
async function inDatabase(service: Service, env: NodeJS.ProcessEnv, work: (client: pg.Client) => Promise<void>): Promise<void> {
  const client = new pg.Client(ownerUrlFor(service, env));
  await client.connect();
  try {
    await client.query('BEGIN');
    await work(client);
    await client.query('COMMIT');
    await client.query('ANALYZE');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    await client.end();
  }
}

/**
 * Loads the data set the benchmark runs on, each service's part in its own database, in a handful of
 * set-based statements: users (newest first by a minute each), profiles for most, payments in four
 * currencies and every status, each user's spread between their sign-up and now, audit entries. (Payments
 * an hour apart from sign-up put the newest users' up to ten hours ahead, and every payment made after them
 * with them, since a user's newest payment is always their latest: the benchmark's latencies from
 * `createdAt` came out hours below zero.)
 */
export async function seedScale(env: NodeJS.ProcessEnv, scale: Scale): Promise<void> {
  let users: { id: string; email: string; created_at: Date }[] = [];
  let adminId = '';
  await inDatabase('auth', env, async (client) => {
    users = (
      await client.query<{ id: string; email: string; created_at: Date }>(
        `INSERT INTO auth.users (email, created_at)
         SELECT 'bench-' || g || '@example.com', now() - g * interval '1 minute' FROM generate_series(1, $1::int) g
         RETURNING id, email, created_at`,
        [scale.users],
      )
    ).rows;
    await client.query(`INSERT INTO auth.password_credentials (user_id, password_hash) SELECT id, $2 FROM auth.users WHERE email = $1`, [
      BENCH_USER.email,
      await hashPassword(BENCH_USER.password),
    ]);
    adminId = (await client.query<{ id: string }>(`SELECT id FROM auth.users WHERE role = 'ADMIN' LIMIT 1`)).rows[0]?.id ?? '';
  });
  const ids = users.map((user) => user.id);
  const emails = users.map((user) => user.email);
  const created = users.map((user) => user.created_at);
  await inDatabase('profile', env, async (client) => {
    await client.query(
      `INSERT INTO profile.profiles (user_id, display_name, locale, timezone)
       SELECT id, 'Bench user ' || substring(email from 7 for 8), 'en-GB', 'Europe/London'
       FROM unnest($1::uuid[], $2::text[]) AS u(id, email) WHERE (hashtext(email) % $3::int) <> 0`,
      [ids, emails, scale.usersWithoutProfileEvery],
    );
  });
  await inDatabase('payments', env, async (client) => {
    await client.query(
      `INSERT INTO payments.payments (user_id, amount, currency, status, refunded_amount, description, created_at)
       SELECT u.id, a.amount, c.currency, s.status,
              CASE WHEN s.status = 'REFUNDED' THEN a.amount WHEN s.status = 'PARTIALLY_REFUNDED' THEN 1 ELSE 0 END,
              'Bench payment ' || g, u.created_at + (now() - u.created_at) * (g::float8 / ($1::int + 1))
       FROM unnest($2::uuid[], $3::timestamptz[]) AS u(id, created_at)
       CROSS JOIN generate_series(1, $1::int) g
       CROSS JOIN LATERAL (SELECT (ARRAY['EUR', 'USD', 'GBP', 'JPY'])[1 + g % 4] AS currency) c
       CROSS JOIN LATERAL (SELECT CASE WHEN c.currency = 'JPY' THEN (100 * (1 + g % 50))::numeric ELSE (5 + g % 200)::numeric + 0.99 END AS amount) a
       CROSS JOIN LATERAL (SELECT (ARRAY['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED', 'FAILED', 'PARTIALLY_REFUNDED', 'REFUNDED', 'PENDING'])[1 + g % 7]::payments."PaymentStatus" AS status) s`,
      [scale.paymentsPerUser, ids, created],
    );
  });
  await inDatabase('admin', env, async (client) => {
    await client.query(
      `INSERT INTO admin.audit_entries (actor_id, action, target_type, target_id, payload, created_at, source)
       SELECT $3::uuid, (ARRAY['user.suspend', 'user.reinstate', 'user.role_change'])[1 + g % 3],
              'User', ($4::text[])[1 + g % $2::int], '{}', now() - g * interval '1 second', 'auth'
       FROM generate_series(1, $1::int) g`,
      [scale.auditEntries, scale.users, adminId, ids],
    );
  });
}
