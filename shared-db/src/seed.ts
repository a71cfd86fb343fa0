// The demo data: an admin and five users with profiles, payments, refunds and audit entries, loaded once.
import type pg from 'pg';
import { ownerUrlFor, serviceConnection } from './config';
import { hashPassword } from './passwords';
import type { Service } from '@fedstack/runtime';
import { connectOrExplain } from './connections';

/** The demo accounts; the README lists them. */
export const DEMO_ADMIN = { email: 'admin@example.com', password: 'admin-demo-password' } as const;
/** The demo admin's id, fixed as every demo row's is. */
const DEMO_ADMIN_ID = '5eed0000-0000-4000-8000-0000000000b0';
export const DEMO_USER_PASSWORD = 'user-demo-password';

interface DemoPayment {
  id: string;
  amount: string;
  currency: string;
  status: 'PENDING' | 'SUCCEEDED' | 'FAILED' | 'PARTIALLY_REFUNDED' | 'REFUNDED';
  description: string;
  refunds?: { id: string; amount: string; reason: string }[];
}

/** Something an admin did to the user, as auth records it (no personal data in the payload). */
interface DemoAuditEntry {
  id: string;
  action: 'user.suspend' | 'user.reinstate' | 'user.role_change';
  payload: Record<string, unknown>;
  daysAgo: number;
}

interface DemoUser {
  id: string;
  email: string;
  /** What admins did to the account, so that its audit trail is not empty. */
  history?: DemoAuditEntry[];
  displayName: string;
  bio: string;
  locale: string;
  timezone: string;
  payments: DemoPayment[];
}

// Fixed ids make the seed idempotent: a second run finds every row already there.
const DEMO_USERS: DemoUser[] = [
  {
    id: '5eed0000-0000-4000-8000-0000000000b1',
    email: 'alice@example.com',
    displayName: 'Alice Martin',
    bio: 'Runs the bakery on Elm Street.',
    locale: 'en-US',
    timezone: 'America/New_York',
    payments: [
      { id: '5eed0000-0000-4000-8000-000000000001', amount: '49.99', currency: 'USD', status: 'SUCCEEDED', description: 'Annual plan' },
      { id: '5eed0000-0000-4000-8000-000000000002', amount: '12.50', currency: 'EUR', status: 'SUCCEEDED', description: 'Coffee beans' },
    ],
  },
  {
    id: '5eed0000-0000-4000-8000-0000000000b2',
    email: 'bob@example.com',
    displayName: 'Bob Tanaka',
    bio: 'Photographer.',
    locale: 'ja-JP',
    timezone: 'Asia/Tokyo',
    payments: [
      { id: '5eed0000-0000-4000-8000-000000000003', amount: '5000', currency: 'JPY', status: 'SUCCEEDED', description: 'Print order' },
      { id: '5eed0000-0000-4000-8000-000000000004', amount: '20.00', currency: 'USD', status: 'FAILED', description: 'Declined card' },
    ],
  },
  {
    id: '5eed0000-0000-4000-8000-0000000000b3',
    email: 'carol@example.com',
    displayName: 'Carol Dupont',
    bio: 'Translator, FR/EN.',
    locale: 'fr-FR',
    timezone: 'Europe/Paris',
    payments: [
      {
        id: '5eed0000-0000-4000-8000-000000000005',
        amount: '100.00',
        currency: 'GBP',
        status: 'PARTIALLY_REFUNDED',
        description: 'Workshop seats',
        refunds: [{ id: '5eed0000-0000-4000-8000-0000000000f1', amount: '25.00', reason: 'One seat cancelled' }],
      },
      { id: '5eed0000-0000-4000-8000-000000000006', amount: '12.345', currency: 'KWD', status: 'SUCCEEDED', description: 'Dictionary' },
    ],
  },
  {
    id: '5eed0000-0000-4000-8000-0000000000b4',
    email: 'dave@example.com',
    history: [
      {
        id: '5eed0000-0000-4000-8000-0000000000a1',
        action: 'user.suspend',
        payload: { before: { status: 'ACTIVE' }, after: { status: 'SUSPENDED' }, sessionsRevoked: 1 },
        daysAgo: 3,
      },
      {
        id: '5eed0000-0000-4000-8000-0000000000a2',
        action: 'user.reinstate',
        payload: { before: { status: 'SUSPENDED' }, after: { status: 'ACTIVE' } },
        daysAgo: 2,
      },
    ],
    displayName: 'Dave Okafor',
    bio: 'Cyclist.',
    locale: 'en-GB',
    timezone: 'Europe/London',
    payments: [
      {
        id: '5eed0000-0000-4000-8000-000000000007',
        amount: '75.00',
        currency: 'EUR',
        status: 'REFUNDED',
        description: 'Bike service',
        refunds: [{ id: '5eed0000-0000-4000-8000-0000000000f2', amount: '75.00', reason: 'Service not delivered' }],
      },
    ],
  },
  {
    id: '5eed0000-0000-4000-8000-0000000000b5',
    email: 'erin@example.com',
    displayName: 'Erin Schmidt',
    bio: 'Reads a lot.',
    locale: 'de-DE',
    timezone: 'Europe/Berlin',
    payments: [{ id: '5eed0000-0000-4000-8000-000000000008', amount: '15.00', currency: 'USD', status: 'PENDING', description: 'Book pre-order' }],
  },
];

export interface SeedReport {
  usersCreated: number;
  paymentsCreated: number;
}

/** One transaction on one service's database, as its owner. */
async function inTransaction<R>(ownerUrl: string, setting: string, work: (client: pg.Client) => Promise<R>): Promise<R> {
  const client = await connectOrExplain(ownerUrl, setting);
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await client.end();
  }
}

/**
 * Loads the demo data as each database's owner, one service's part at a time in its own database (auth's
 * first, whose user ids the others refer to). Idempotent: existing rows are left as they are (a demo user
 * who changed their password keeps it), and a demo user who was erased is not made again.
 */
export async function seedDemoData(env: NodeJS.ProcessEnv = process.env): Promise<SeedReport> {
  const report: SeedReport = { usersCreated: 0, paymentsCreated: 0 };
  const owner = (service: Service) => [ownerUrlFor(service, env), serviceConnection(service, env).source] as const;

  const ids = await inTransaction(...owner('auth'), async (client) => {
    /** The demo user's id, and whether it was erased (then it is not made again). */
    const upsertUser = async (id: string, email: string, role: 'USER' | 'ADMIN', password: string): Promise<{ id: string; erased: boolean }> => {
      const created = await client.query<{ id: string }>(`INSERT INTO auth.users (id, email, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING id`, [
        id,
        email,
        role,
      ]);
      if (created.rowCount) {
        report.usersCreated += 1;
        await client.query('INSERT INTO auth.password_credentials (user_id, password_hash) VALUES ($1, $2)', [id, await hashPassword(password)]);
        return { id, erased: false };
      }
      // There already: by its fixed id, or by its e-mail (seeded before the ids were fixed). Erased, it kept
      // its id and lost its e-mail, and was made again at every start, the public-password admin included.
      const existing = await client.query<{ id: string; erased: boolean }>(
        'SELECT id, erased_at IS NOT NULL AS erased FROM auth.users WHERE id = $1 OR email = $2 ORDER BY id = $1 DESC LIMIT 1',
        [id, email],
      );
      return existing.rows[0] as { id: string; erased: boolean };
    };
    // The admin's id stays the author of the demo refunds and audit entries, erased or not.
    const { id: admin, erased: adminErased } = await upsertUser(DEMO_ADMIN_ID, DEMO_ADMIN.email, 'ADMIN', DEMO_ADMIN.password);
    const users = new Map<DemoUser, string>();
    for (const user of DEMO_USERS) {
      const { id, erased } = await upsertUser(user.id, user.email, 'USER', DEMO_USER_PASSWORD);
      if (!erased) users.set(user, id);
    }
    return { admin, adminErased, users };
  });

  await inTransaction(...owner('profile'), async (client) => {
    if (!ids.adminErased) {
      await client.query(
        `INSERT INTO profile.profiles (user_id, display_name, locale, timezone) VALUES ($1, 'Demo Admin', 'en-US', 'UTC')
         ON CONFLICT (user_id) DO NOTHING`,
        [ids.admin],
      );
    }
    for (const [user, userId] of ids.users) {
      await client.query(
        `INSERT INTO profile.profiles (user_id, display_name, bio, locale, timezone) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (user_id) DO NOTHING`,
        [userId, user.displayName, user.bio, user.locale, user.timezone],
      );
    }
  });

  const refunds = await inTransaction(...owner('payments'), async (client) => {
    const recorded: { paymentId: string; currency: string; refund: { id: string; amount: string } }[] = [];
    for (const [user, userId] of ids.users) {
      for (const payment of user.payments) {
        const refundAmounts = (payment.refunds ?? []).map((refund) => refund.amount);
        const inserted = await client.query(
          `INSERT INTO payments.payments (id, user_id, amount, currency, status, description, refunded_amount, method_last4)
           VALUES ($1, $2, $3, $4, $5, $6, (SELECT coalesce(sum(a), 0) FROM unnest($7::numeric[]) AS a), '4242')
           ON CONFLICT (id) DO NOTHING`,
          [payment.id, userId, payment.amount, payment.currency, payment.status, payment.description, refundAmounts],
        );
        for (const refund of payment.refunds ?? []) recorded.push({ paymentId: payment.id, currency: payment.currency, refund });
        if (!inserted.rowCount) continue;
        report.paymentsCreated += 1;
        for (const refund of payment.refunds ?? []) {
          await client.query('INSERT INTO payments.refunds (id, payment_id, amount, reason, created_by_id) VALUES ($1, $2, $3, $4, $5)', [
            refund.id,
            payment.id,
            refund.amount,
            refund.reason,
            ids.admin,
          ]);
        }
      }
    }
    return recorded;
  });

  // Each refund's audit entry names the refund, so a second run (or one after a failure part-way) adds none;
  // the users' histories have fixed ids.
  await inTransaction(...owner('admin'), async (client) => {
    for (const [user, userId] of ids.users) {
      for (const entry of user.history ?? []) {
        await client.query(
          `INSERT INTO admin.audit_entries (id, actor_id, action, target_type, target_id, payload, source, created_at)
           VALUES ($1, $2, $3, 'User', $4, $5, 'auth', now() - make_interval(days => $6)) ON CONFLICT (id) DO NOTHING`,
          [entry.id, ids.admin, entry.action, userId, JSON.stringify(entry.payload), entry.daysAgo],
        );
      }
    }
    for (const { paymentId, currency, refund } of refunds) {
      await client.query(
        `INSERT INTO admin.audit_entries (actor_id, action, target_type, target_id, payload, source)
         SELECT $1, 'payment.refund', 'Payment', $2, $3, 'payments'
         WHERE NOT EXISTS (SELECT 1 FROM admin.audit_entries WHERE action = 'payment.refund' AND payload->>'refundId' = $4)`,
        [ids.admin, paymentId, JSON.stringify({ refundId: refund.id, amount: refund.amount, currency }), refund.id],
      );
    }
  });
  return report;
}
