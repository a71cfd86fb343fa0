import { REPOSITORY_ROOT, SERVICES } from '@fedstack/runtime';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { createScratchDatabases, migrationNames, ownerUrlFor, prepareDatabases, type ScratchDatabases } from '@fedstack/shared-db';
import { graphql } from '@fedstack/service-kit/testing';
import { rowCounts } from '@fedstack/shared-db/testing';
import { ACCOUNT_CHANGE_BOUND_MS, demoAdmin, within } from './clients';
import { startStack, type RunningStack } from './stack';
import { UNPLACED } from './worker-databases';

const FIXTURE = path.join(REPOSITORY_ROOT, 'shared-db', 'fixtures', 'legacy-shared-3e3e354.sql');
const OLD_REASON_ENTRY = '5e1f0000-0000-4000-8000-00000000a001';

/**
 * A database made by the first release (one migration history for all four schemas) upgrades to one
 * history per service with `npm run db:migrate`: no data lost, no manual SQL, and the stack serves it.
 */
describe('upgrading a database from the single-history layout', () => {
  let scratch: ScratchDatabases;
  let url: string;
  let db: pg.Client;
  let env: NodeJS.ProcessEnv;
  const counts = () => rowCounts(url, SERVICES);

  beforeAll(async () => {
    const server = new URL(ownerUrlFor('auth'));
    server.pathname = '/postgres';
    scratch = await createScratchDatabases('shared', { DATABASE_URL: server.toString() });
    url = scratch.env.DATABASE_URL as string;
    env = { ...process.env, ...UNPLACED, DATABASE_URL: url };
    db = new pg.Client(url);
    await db.connect();
    await db.query(readFileSync(FIXTURE, 'utf8'));
    // The first release copied a suspension's reason into the entry's payload, for ever.
    await db.query(
      `INSERT INTO admin.audit_entries (id, actor_id, action, target_type, target_id, payload, created_at)
       VALUES ($1, '28d2a9b4-3271-4163-b3d5-9ab4de4b3b05', 'user.suspend', 'User', '07fbdea4-87fd-4dbb-baf2-7e47db92428b',
               '{"reason": "chargeback fraud", "before": {"status": "ACTIVE"}, "after": {"status": "SUSPENDED"}}', '2026-11-20 10:00:00+00')`,
      [OLD_REASON_ENTRY],
    );
  });
  afterAll(async () => {
    await db?.end();
    await scratch?.drop();
  });

  // Eight Prisma CLI runs and a stack: on a busy machine, more than the default minute.
  it('adopts the single history service by service, keeps every row, and is served by the stack', async () => {
    const before = await counts();
    expect(before.find((row) => row.table === 'auth.users')?.rows).toBe(7);
    await prepareDatabases(env, { quiet: true });

    for (const service of SERVICES) {
      const { rows } = await db.query<{ migration_name: string }>(
        `SELECT migration_name FROM "${service}"._prisma_migrations WHERE finished_at IS NOT NULL ORDER BY 1`,
      );
      expect({ service, history: rows.map((row) => row.migration_name) }).toEqual({ service, history: migrationNames(service) });
    }
    const histories = `SELECT to_regclass('public._prisma_migrations') IS NOT NULL AS single, to_regclass('public._prisma_migrations_single_history') IS NOT NULL AS retired`;
    expect((await db.query(histories)).rows).toEqual([{ single: false, retired: true }]);
    // Every row is still there; the new tables hold only what the upgrade derived from the old ones.
    const after = await counts();
    // (auth.login_throttles gave way to auth.rate_limits in a later migration; its counters are not kept.)
    const dropped = new Set(['auth.login_throttles']);
    for (const { table, rows } of before.filter(({ table }) => !dropped.has(table))) {
      expect({ table, rows: after.find((row) => row.table === table)?.rows }).toEqual({ table, rows });
    }
    expect(after.map(({ table }) => table).filter((table) => dropped.has(table))).toEqual([]);
    // The accounts that differ from a new sign-up (the admin, the suspended user) are published to every view.
    const published = await db.query(
      `SELECT destination, payload->>'status' AS status, payload->>'role' AS role FROM auth.outbox WHERE topic = 'account.changed' ORDER BY 1, 2`,
    );
    expect(published.rows).toHaveLength(6);
    expect((await db.query(`SELECT DISTINCT source FROM admin.audit_entries WHERE action = 'payment.refund'`)).rows).toEqual([{ source: 'payments' }]);
    // A reason in a payload moved to the entry's details, which erasure can delete.
    const moved = await db.query(
      'SELECT e.payload, d.subject_id, d.details FROM admin.audit_entries e LEFT JOIN admin.audit_details d ON d.entry_id = e.id WHERE e.id = $1',
      [OLD_REASON_ENTRY],
    );
    expect(moved.rows).toEqual([
      {
        payload: { before: { status: 'ACTIVE' }, after: { status: 'SUSPENDED' } },
        subject_id: '07fbdea4-87fd-4dbb-baf2-7e47db92428b',
        details: { reason: 'chargeback fraud' },
      },
    ]);

    // A second run changes nothing.
    const once = await counts();
    await prepareDatabases(env, { quiet: true });
    expect(await counts()).toEqual(once);

    const stack: RunningStack = await startStack({}, env);
    try {
      const alice = await graphql<{ login: { accessToken: string } }>(
        stack.gatewayUrl,
        'mutation { login(input: { email: "alice@example.com", password: "user-demo-password" }) { accessToken } }',
      );
      const me = await graphql(stack.gatewayUrl, '{ me { email profile { displayName } paymentTotals { currency amount } } }', {
        token: alice.data?.login.accessToken as string,
      });
      expect(me.data).toEqual({
        me: {
          email: 'alice@example.com',
          profile: { displayName: 'Alice Martin' },
          paymentTotals: [
            { currency: 'EUR', amount: '12.50' },
            { currency: 'USD', amount: '49.99' },
          ],
        },
      });
      const admin = await demoAdmin(stack.gatewayUrl);
      const trail = await graphql(
        stack.gatewayUrl,
        `
          {
            user(id: "1e6ac000-0000-4000-8000-000000000001") {
              status
              auditTrail {
                edges {
                  node {
                    action
                  }
                }
              }
            }
          }
        `,
        {
          token: admin.accessToken,
        },
      );
      expect(trail.data).toEqual({ user: { status: 'SUSPENDED', auditTrail: { edges: [{ node: { action: 'user.suspend' } }] } } });
      // The relay delivers what the upgrade published: the views learn of the suspension.
      await within(ACCOUNT_CHANGE_BOUND_MS * 2, async () => {
        const { rows } = await db.query<{ status: string }>(`SELECT status FROM profile.account_states WHERE user_id = '1e6ac000-0000-4000-8000-000000000001'`);
        return rows[0]?.status === 'SUSPENDED';
      });
    } finally {
      await stack.stop();
    }
  }, 180_000);
});
