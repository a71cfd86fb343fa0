import pg from 'pg';
import { createServiceClient, crossServiceTransaction, type QueryEvent } from './client';
import { ownerUrl } from './config';

async function ownerQuery<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
  const owner = new pg.Client(ownerUrl());
  await owner.connect();
  try {
    return (await owner.query<R>(sql, params)).rows;
  } finally {
    await owner.end();
  }
}

describe('createServiceClient', () => {
  it('connects as the service role and reports every statement with the schema it touched', async () => {
    const events: QueryEvent[] = [];
    const payments = createServiceClient('payments', { poolSize: 2, onQuery: (event) => events.push(event) });
    try {
      const [role] = await payments.$queryRaw<{ current_user: string }[]>`SELECT current_user`;
      expect(role?.current_user).toBe('payments_svc');
      const count = await payments.payment.count();
      expect(count).toBeGreaterThan(0);
      expect(events.at(-1)).toMatchObject({ service: 'payments', schema: 'payments', failed: false });
      expect(events.at(-1)?.durationMs).toBeGreaterThanOrEqual(0);

      // The type has no `user` model; PostgreSQL refuses the same access when raw SQL tries it.
      // @ts-expect-error payments cannot name another service's model
      expect(payments.user).toBeDefined();
      await expect(payments.$queryRaw`SELECT email FROM auth.users`).rejects.toThrow(/permission denied/);
      expect(events.at(-1)).toMatchObject({ schema: 'auth', failed: true });
    } finally {
      await payments.$disconnect();
    }
  });
});

describe('crossServiceTransaction', () => {
  const admin = createServiceClient('admin', { poolSize: 2 });
  afterAll(() => admin.$disconnect());

  async function snapshot(userId: string) {
    const [user] = await ownerQuery<{ status: string }>('SELECT status FROM auth.users WHERE id = $1', [userId]);
    const [sessions] = await ownerQuery<{ open: number }>(
      'SELECT count(*)::int AS open FROM auth.sessions WHERE user_id = $1 AND revoked_at IS NULL',
      [userId],
    );
    const [profiles] = await ownerQuery<{ n: number }>('SELECT count(*)::int AS n FROM profile.profiles WHERE user_id = $1', [userId]);
    const [audit] = await ownerQuery<{ n: number }>('SELECT count(*)::int AS n FROM admin.audit_entries WHERE target_id = $1', [
      userId,
    ]);
    return { status: user?.status, openSessions: sessions?.open, profiles: profiles?.n, auditEntries: audit?.n };
  }

  async function userWithSession(email: string): Promise<string> {
    const [user] = await ownerQuery<{ id: string }>('INSERT INTO auth.users (email) VALUES ($1) RETURNING id', [email]);
    const id = (user as { id: string }).id;
    await ownerQuery(
      `INSERT INTO auth.sessions (user_id, family_id, token_hash, expires_at) VALUES ($1, gen_random_uuid(), $2, now() + interval '1 day')`,
      [id, `hash-${email}`],
    );
    await ownerQuery('INSERT INTO profile.profiles (user_id, display_name) VALUES ($1, $2)', [id, email]);
    return id;
  }

  async function suspend(userId: string, failHalfway: boolean) {
    return crossServiceTransaction(admin, async (tx) => {
      await tx.user.update({ where: { id: userId }, data: { status: 'SUSPENDED' } });
      await tx.session.updateMany({ where: { userId, revokedAt: null }, data: { revokedAt: new Date(), revokedReason: 'suspended' } });
      await tx.profile.deleteMany({ where: { userId } });
      if (failHalfway) throw new Error('injected failure after three schemas were written');
      await tx.auditEntry.create({ data: { action: 'user.suspend', targetType: 'User', targetId: userId } });
    });
  }

  it('commits writes to auth, profile and admin together', async () => {
    const userId = await userWithSession('tx-commit@example.com');
    await suspend(userId, false);
    expect(await snapshot(userId)).toEqual({ status: 'SUSPENDED', openSessions: 0, profiles: 0, auditEntries: 1 });
  });

  it('leaves no row behind in any schema when it fails half-way', async () => {
    const userId = await userWithSession('tx-rollback@example.com');
    const before = await snapshot(userId);
    await expect(suspend(userId, true)).rejects.toThrow(/injected failure/);
    expect(await snapshot(userId)).toEqual(before);
    expect(before).toEqual({ status: 'ACTIVE', openSessions: 1, profiles: 1, auditEntries: 0 });
  });
});
