import pg from 'pg';
import { createServiceClient, type QueryEvent } from './client';
import { ownerUrlFor } from './config';
import { isDatabaseUnavailable } from './errors';
import { SERVICES, freePort } from '@fedstack/runtime';

describe('createServiceClient', () => {
  it('connects as the service role and reports every statement it runs', async () => {
    const events: QueryEvent[] = [];
    const payments = createServiceClient('payments', { poolSize: 2, onQuery: (event) => events.push(event) });
    try {
      const [role] = await payments.$queryRaw<{ current_user: string }[]>`SELECT current_user`;
      expect(role?.current_user).toBe('payments_svc');
      const count = await payments.payment.count();
      expect(count).toBeGreaterThan(0);
      expect(events.at(-1)).toMatchObject({ service: 'payments', failed: false });
      expect(events.at(-1)?.sql).toMatch(/"payments"\."payments"/);
      expect(events.at(-1)?.durationMs).toBeGreaterThanOrEqual(0);
    } finally {
      await payments.$disconnect();
    }
  });

  it('runs hot statements prepared, once per connection, as the service role', async () => {
    const events: QueryEvent[] = [];
    const payments = createServiceClient('payments', { poolSize: 1, onQuery: (event) => events.push(event) });
    try {
      const statement = { name: 'test_role', text: 'SELECT current_user AS role, $1::int + 1 AS next' };
      expect(await payments.sql(statement, [1])).toEqual([{ role: 'payments_svc', next: 2 }]);
      expect(await payments.sql(statement, [41])).toEqual([{ role: 'payments_svc', next: 42 }]);
      // The one connection holds it prepared, under a name of the service's own.
      const prepared = await payments.sql<{ name: string }>({ name: 'test_prepared', text: 'SELECT name FROM pg_prepared_statements ORDER BY name' }, []);
      expect(prepared.map((row) => row.name)).toEqual(['payments_test_prepared', 'payments_test_role']);
      expect(events.map((event) => event.sql)).toEqual([statement.text, statement.text, expect.stringMatching(/pg_prepared_statements/)]);
    } finally {
      await payments.$disconnect();
    }
  });

  it('commits a transaction whose work returns, and leaves nothing of one whose work throws', async () => {
    const payments = createServiceClient('payments', { poolSize: 1 });
    const key = (suffix: string) => `client-test-${process.pid}-${suffix}`;
    const insert = {
      name: 'test_insert_key',
      text: `INSERT INTO payments.idempotency_records (user_id, operation, key, request_hash) VALUES (gen_random_uuid(), 'test', $1, 'x')`,
    };
    const count = async (suffix: string) =>
      (
        await payments.sql<{ n: number }>({ name: 'test_count_key', text: 'SELECT count(*)::int AS n FROM payments.idempotency_records WHERE key = $1' }, [
          key(suffix),
        ])
      )[0]?.n;
    try {
      expect(await payments.sqlTransaction(async (tx) => (await tx.sql(insert, [key('kept')]), 'done'))).toBe('done');
      await expect(
        payments.sqlTransaction(async (tx) => {
          await tx.sql(insert, [key('undone')]);
          await tx.$executeRawUnsafe(
            `INSERT INTO payments.idempotency_records (user_id, operation, key, request_hash) VALUES (gen_random_uuid(), 'test', $1, 'x')`,
            key('undone too'),
          );
          throw new Error('the work failed');
        }),
      ).rejects.toThrow('the work failed');
      expect([await count('kept'), await count('undone'), await count('undone too')]).toEqual([1, 0, 0]);
      // The one connection went back to the pool clean: a new transaction works on it.
      expect(await payments.sqlTransaction((tx) => tx.$queryRawUnsafe<{ one: number }[]>('SELECT 1 AS one'))).toEqual([{ one: 1 }]);
    } finally {
      await payments.$executeRawUnsafe(`DELETE FROM payments.idempotency_records WHERE key LIKE 'client-test-%'`).catch(() => undefined);
      await payments.$disconnect();
    }
  });

  it('closes its connections on $disconnect even when only prepared statements ran (Prisma never connected)', async () => {
    const profile = createServiceClient('profile', { poolSize: 1 });
    const [backend] = await profile.sql<{ pid: number }>({ name: 'test_backend', text: 'SELECT pg_backend_pid() AS pid' }, []);
    // Connected beforehand, so that it asks the moment $disconnect returns.
    const owner = new pg.Client(ownerUrlFor('profile', process.env));
    await owner.connect();
    await profile.$disconnect();
    try {
      // Closed by the time $disconnect returns: db:split refuses to move a service while any of its
      // connections is open.
      expect((await owner.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [backend?.pid])).rows).toEqual([{ n: 0 }]);
    } finally {
      await owner.end();
    }
  });

  it('outlives the server ending its connections, idle or mid-transaction: the transaction fails saying so, and the pool connects again', async () => {
    const lost: Error[] = [];
    let reportLost: () => void = () => undefined;
    const lostOne = new Promise<void>((resolve) => (reportLost = resolve));
    const payments = createServiceClient('payments', {
      poolSize: 2,
      onConnectionLost: (error) => {
        lost.push(error);
        reportLost();
      },
    });
    const owner = new pg.Client(ownerUrlFor('payments', process.env));
    await owner.connect();
    const backend = { name: 'test_backend_pid', text: 'SELECT pg_backend_pid() AS pid' };
    const ended: number[] = [];
    try {
      const transaction = payments.sqlTransaction(async (tx) => {
        const [own] = await tx.sql<{ pid: number }>(backend, []);
        // The other connection, made while this one is checked out, is idle in the pool once this returns.
        const [idle] = await payments.sql<{ pid: number }>(backend, []);
        ended.push(own?.pid ?? 0, idle?.pid ?? 0);
        // As when the server restarts or fails over: every session of the service ended, this one mid-transaction.
        await owner.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [ended]);
        await lostOne;
        return tx.sql(backend, []);
      });
      const failure: unknown = await transaction.then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(isDatabaseUnavailable(failure)).toBe(true);
      // Reported once, for the idle connection; the broken one left the pool with its transaction.
      expect(lost.map((error) => (error as { code?: string }).code)).toEqual(['57P01']);
      const [again] = await payments.sql<{ pid: number }>(backend, []);
      expect(ended).not.toContain(again?.pid);
    } finally {
      await owner.end();
      await payments.$disconnect();
    }
  });

  it('gives back the connection of a Prisma transaction whose session the server ended', async () => {
    const payments = createServiceClient('payments', { poolSize: 1, timeoutMs: 2000 });
    const owner = new pg.Client(ownerUrlFor('payments', process.env));
    await owner.connect();
    try {
      const transaction = payments.$transaction(async (tx) => {
        const [own] = await tx.$queryRaw<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
        await owner.query('SELECT pg_terminate_backend($1)', [own?.pid]);
        return tx.$queryRaw`SELECT 1`;
      });
      expect(
        isDatabaseUnavailable(
          await transaction.then(
            () => undefined,
            (error: unknown) => error,
          ),
        ),
      ).toBe(true);
      // Prisma gives a transaction's connection back only after a ROLLBACK that succeeds; this one's cannot.
      expect(await payments.sql({ name: 'test_after', text: 'SELECT 1 AS one' }, [])).toEqual([{ one: 1 }]);
      expect(payments.poolStats()).toMatchObject({ total: 1, waiting: 0 });
    } finally {
      await owner.end();
      await payments.$disconnect();
    }
  });

  it('says the database is unavailable when nothing listens, whether Prisma or a prepared statement asked, and not for a bad statement', async () => {
    const nowhere = createServiceClient('payments', { url: `postgresql://payments_svc:x@127.0.0.1:${await freePort()}/nowhere`, poolSize: 1 });
    const here = createServiceClient('payments', { poolSize: 1 });
    const failure = (work: Promise<unknown>) =>
      work.then(
        () => undefined,
        (error: unknown) => error,
      );
    try {
      expect(isDatabaseUnavailable(await failure(nowhere.payment.count()))).toBe(true);
      expect(isDatabaseUnavailable(await failure(nowhere.$queryRawUnsafe('SELECT 1')))).toBe(true);
      expect(isDatabaseUnavailable(await failure(nowhere.sql({ name: 'test_one', text: 'SELECT 1' }, [])))).toBe(true);
      expect(isDatabaseUnavailable(await failure(here.$queryRawUnsafe('SELECT no_such_column FROM payments.payments')))).toBe(false);
      expect(isDatabaseUnavailable(await failure(here.sql({ name: 'test_bad', text: 'SELECT 1/0' }, [])))).toBe(false);
    } finally {
      await Promise.all([nowhere.$disconnect(), here.$disconnect()]);
    }
  });

  it('says the database is unavailable when it does not accept connections (as db:split leaves a retired source): an internal call answered 500 for it', async () => {
    const admin = new pg.Client(ownerUrlFor('payments', process.env));
    await admin.connect();
    const name = `closed_${process.pid}_${Date.now()}`;
    const url = new URL(ownerUrlFor('payments', process.env));
    url.pathname = `/${name}`;
    const closed = createServiceClient('payments', { url: url.toString(), poolSize: 1 });
    try {
      await admin.query(`CREATE DATABASE ${name} ALLOW_CONNECTIONS false`);
      const failure = (work: Promise<unknown>) =>
        work.then(
          () => undefined,
          (error: unknown) => error,
        );
      expect(isDatabaseUnavailable(await failure(closed.$queryRawUnsafe('SELECT 1')))).toBe(true);
      expect(isDatabaseUnavailable(await failure(closed.sql({ name: 'test_closed', text: 'SELECT 1' }, [])))).toBe(true);
    } finally {
      await closed.$disconnect();
      await admin.query(`DROP DATABASE IF EXISTS ${name}`);
      await admin.end();
    }
  });

  it.each(SERVICES)("gives %s a client of its own schema's models only, and PostgreSQL refuses the rest", async (service) => {
    const db = createServiceClient(service, { poolSize: 1 });
    // Model delegates are the client's properties that can findMany.
    const models = (client: object) =>
      Object.keys(client).filter((key) => {
        const value = (client as Record<string, unknown>)[key];
        return typeof value === 'object' && value !== null && 'findMany' in value;
      });
    try {
      const own: Record<string, string[]> = {
        auth: ['user', 'passwordCredential', 'session', 'rateLimit', 'outboxEvent', 'erasure', 'internalCallToken'],
        profile: ['profile', 'erasure', 'accountState', 'revokedSession', 'internalCallToken'],
        payments: ['payment', 'refund', 'idempotencyRecord', 'outboxEvent', 'erasure', 'accountState', 'revokedSession', 'internalCallToken'],
        admin: ['auditEntry', 'auditDetail', 'erasureRequest', 'accountState', 'revokedSession', 'internalCallToken'],
      };
      expect(models(db).sort()).toEqual([...(own[service] ?? [])].sort());
      for (const other of SERVICES.filter((name) => name !== service)) {
        // Refused in either layout: no privilege on the schema here, or no such schema in a database of its own.
        await expect(db.$queryRawUnsafe(`SELECT 1 FROM "${other}"._prisma_migrations LIMIT 1`)).rejects.toThrow(/permission denied|does not exist/);
      }
    } finally {
      await db.$disconnect();
    }
  });
});
