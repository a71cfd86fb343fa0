import { REPOSITORY_ROOT, SERVICES, freePort, pollUntil, type Service } from '@fedstack/runtime';
import pg from 'pg';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { SPLIT_COPIED, assertMigrated, prepareDatabases, serviceUrlVariable, startEmbeddedPostgres } from '@fedstack/shared-db';
import { graphql } from '@fedstack/service-kit/testing';
import { queryAt, rowCounts } from '@fedstack/shared-db/testing';
import { demoAdmin, pay, register } from './clients';
import { endToEndTests } from './e2e-suite';
import { startStack, type RunningStack } from './stack';
import { UNPLACED, copyOfRunDatabase } from './worker-databases';

const DB_CLI = path.join(REPOSITORY_ROOT, 'shared-db', 'dist', 'cli', 'db.js');

/** `npm run db:split -- <args>`, as an operator runs it, with the given database settings and no others. */
function dbSplit(args: string[], databases: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [DB_CLI, 'split', ...args], { env: { ...process.env, ...UNPLACED, ...databases } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/**
 * The move from one database to one per service, as an operator makes it: starting from a shared
 * database with the stack's data in place, `db:split` moves each service in turn while the others keep
 * running, and the whole end-to-end suite passes after each move. Then one service moves back.
 */
// It makes a shared database of its own to start from, whatever the run's layout: one run of it is enough.
const describeOnce =
  process.env.DB_LAYOUT === 'split' || Object.keys(process.env).some((name) => name.endsWith('_DATABASE_URL') && process.env[name]) ? describe.skip : describe;

describeOnce('db:split, one service at a time', () => {
  let shared: { url: string; drop(): Promise<void> };
  let sharedUrl: string;
  let stack: RunningStack;
  /** Where each moved service's database is (the owner's connection). */
  const moved: Record<string, string> = {};
  const targetOf = (service: Service, suffix = '') => {
    const url = new URL(sharedUrl);
    url.pathname = `${url.pathname}_${service}${suffix}`;
    return url.toString();
  };
  let sharedEnv: Record<string, string>;
  const settings = () => ({ ...sharedEnv, ...moved });

  beforeAll(async () => {
    // A database of its own, on the run's server, so that moving services out disturbs no other test: a
    // copy of the run's, migrated and seeded as `npm start` leaves one.
    const copy = await copyOfRunDatabase('split');
    if (!copy) throw new Error('db:split starts from one shared database, which this run does not have');
    shared = copy;
    sharedUrl = copy.url;
    sharedEnv = copy.env;
    const env = { ...process.env, ...UNPLACED, ...settings() };
    stack = await startStack({}, env);
    // Data of every kind the services keep: a suspension's audit trail, a refund, a profile.
    const admin = await demoAdmin(stack.gatewayUrl);
    const user = await register(stack.gatewayUrl);
    await graphql(stack.gatewayUrl, 'mutation { updateMyProfile(input: { displayName: "Moved" }) { displayName } }', { token: user.accessToken });
    const paymentId = (await pay(stack.gatewayUrl, user, '40.00')).data?.createPayment.id;
    await graphql(stack.gatewayUrl, 'mutation ($id: ID!) { refundPayment(input: { paymentId: $id, amount: "4.00" }, idempotencyKey: "moved") { id } }', {
      token: admin.accessToken,
      variables: { id: paymentId },
    });
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
    const admin = new URL(sharedUrl);
    admin.pathname = '/postgres';
    for (const service of SERVICES) {
      for (const suffix of ['', '_taken'])
        await queryAt(admin.toString(), `DROP DATABASE IF EXISTS "${new URL(targetOf(service, suffix)).pathname.slice(1)}" WITH (FORCE)`);
    }
    await shared?.drop();
  });

  it('refuses while the service is running, and when the target already holds its schema, changing nothing', async () => {
    const before = await rowCounts(sharedUrl, ['profile']);
    const running = await dbSplit(['--service', 'profile', '--to', targetOf('profile')], settings());
    expect(running.code).toBe(1);
    expect(running.stderr.trim()).toMatch(/^error: db:split: \d+ connections? of profile_svc (is|are) open to the source: stop the profile service first/);

    const taken = targetOf('profile', '_taken');
    await prepareDatabases({ ...process.env, ...UNPLACED, PROFILE_DATABASE_URL: taken }, { services: ['profile'], quiet: true });
    await stack.stopSubgraph('profile');
    // The source itself under another address (a pooler, another host name) in front of the same server.
    const upstream = new URL(sharedUrl);
    const alias = createServer((socket) => {
      const forwarded = createConnection(Number(upstream.port || 5432), upstream.hostname);
      socket.on('error', () => forwarded.destroy());
      forwarded.on('error', () => socket.destroy());
      socket.pipe(forwarded).pipe(socket);
    });
    await new Promise<void>((resolve) => alias.listen(0, '127.0.0.1', resolve));
    const sameUnderAnotherName = new URL(sharedUrl);
    sameUnderAnotherName.port = String((alias.address() as AddressInfo).port);
    try {
      const occupied = await dbSplit(['--service', 'profile', '--to', taken], settings());
      expect(occupied.code).toBe(1);
      expect(occupied.stderr.trim()).toMatch(/^error: db:split: the target is not empty: it already holds the profile schema/);
      // The role's URL, as a move's summary prints it for the service, is not the owner's.
      const asRole = new URL(taken);
      asRole.username = 'profile_svc';
      const roleGiven = await dbSplit(['--service', 'profile', '--to', asRole.toString()], settings());
      expect({ code: roleGiven.code, stderr: roleGiven.stderr.trim() }).toEqual({
        code: 1,
        stderr: "error: db:split: --to connects as profile_svc, which cannot create roles or run migrations: give the owner's connection to the new database",
      });
      const itself = await dbSplit(['--service', 'profile', '--to', sameUnderAnotherName.toString()], settings());
      expect({ code: itself.code, stderr: itself.stderr.trim() }).toEqual({
        code: 1,
        stderr: expect.stringMatching(/^error: db:split: --from and --to are the same database, under two names/),
      });
      // Another server, which has no profile_svc role: made with the development password, which this
      // repository publishes, it logged in to the moved data.
      const elsewhere = await startEmbeddedPostgres({
        dataDir: mkdtempSync(path.join(os.tmpdir(), 'fedstack-split-elsewhere-')),
        port: await freePort(),
        ephemeral: true,
      });
      try {
        const target = new URL(elsewhere.url);
        target.pathname = '/profile_elsewhere';
        const unsafe = await dbSplit(['--service', 'profile', '--to', target.toString()], settings());
        expect({ code: unsafe.code, stderr: unsafe.stderr.trim() }).toEqual({
          code: 1,
          stderr:
            "error: db:split: PROFILE_DB_PASSWORD must be set: the target's server has no profile_svc role, and it would be made with this repository's development password, which anyone can read",
        });
        expect(await queryAt(elsewhere.url, `SELECT rolname FROM pg_roles WHERE rolname = 'profile_svc'`)).toEqual([]);
        // Nor the database it had made for the move (an empty one was left behind).
        expect(await queryAt(elsewhere.url, `SELECT datname FROM pg_database WHERE datname = 'profile_elsewhere'`)).toEqual([]);
      } finally {
        await elsewhere.stop();
      }
    } finally {
      await stack.startSubgraph('profile');
      await new Promise((resolve) => alias.close(resolve));
    }
    expect(await rowCounts(sharedUrl, ['profile'])).toEqual(before);
    expect(await queryAt(sharedUrl, `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'profile%'`)).toEqual([{ nspname: 'profile' }]);
  });

  /**
   * The states a move leaves when it stops after committing the copy (its target then marked, and no
   * service starting there): before retiring the source, or after. Running the same command again
   * finishes each, copying again if the service ran on the source since (the copy never served).
   */
  async function interruptAndFinish(retired: string): Promise<void> {
    const target = targetOf('payments');
    const again = async (expected: string) => {
      const run = await dbSplit(['--service', 'payments', '--from', sharedUrl, '--to', target], settings());
      expect({ code: run.code, stderr: run.stderr, finished: run.stdout.includes(expected) }).toEqual({ code: 0, stderr: '', finished: true });
      expect(await queryAt(sharedUrl, `SELECT 1 FROM pg_namespace WHERE nspname = 'payments'`)).toEqual([]);
      await assertMigrated('payments', target, 'PAYMENTS_DATABASE_URL');
      return /schema as (\S+)\./.exec(run.stdout)?.[1] ?? retired;
    };
    const stopBetween = async (schema: string) => {
      await queryAt(sharedUrl, `ALTER SCHEMA "${schema}" RENAME TO payments`);
      await queryAt(target, `COMMENT ON SCHEMA payments IS '${SPLIT_COPIED}'`);
    };

    await queryAt(target, `COMMENT ON SCHEMA payments IS '${SPLIT_COPIED}'`);
    await expect(assertMigrated('payments', target, 'PAYMENTS_DATABASE_URL')).rejects.toThrow(
      /stopped after copying the data and before retiring its source: run the same db:split again/,
    );
    await again(`The source was retired as ${retired} by a move that stopped before its end, and the target holds its exact copy: finishing it.`);

    await stopBetween(retired);
    const next = await again('The target already holds an exact copy of payments (a move that stopped before its end): finishing it.');

    // The service ran on the source again, and wrote (it refused a payment): that copy is stale.
    await stopBetween(next);
    const [written] = await queryAt<{ id: string }>(
      sharedUrl,
      `INSERT INTO payments.idempotency_records (user_id, operation, key, request_hash, error_code)
       VALUES (gen_random_uuid(), 'createPayment', 'after-an-interrupted-move', 'hash', 'PAYMENT_DECLINED') RETURNING id`,
    );
    await again('The target holds a copy of payments by a move that stopped before its end, and the source has changed since: copying again.');
    expect(await queryAt(target, 'SELECT id FROM payments.idempotency_records WHERE id = $1', [written?.id])).toEqual([{ id: written?.id }]);
    // Run once more, the move finished: said so.
    const done = await dbSplit(['--service', 'payments', '--from', sharedUrl, '--to', target], settings());
    expect({ code: done.code, stderr: done.stderr.trim() }).toEqual({
      code: 1,
      stderr: expect.stringMatching(
        /^error: db:split: payments was moved already: the source's copy is retired as payments_moved_\d+, and the target holds payments; nothing was changed$/,
      ),
    });
  }

  /**
   * A move killed (kill -9) after it prepared the target and before it copied anything: it waits for the
   * source's lock, which a report holds. The target's schema is migrated and empty, and no service starts
   * on it; the next run prepares it again.
   */
  async function killedBeforeTheCopy(service: Service, table: string): Promise<void> {
    const report = new pg.Client({ connectionString: sharedUrl });
    await report.connect();
    try {
      await report.query('BEGIN');
      await report.query(`LOCK TABLE "${service}"."${table}" IN ROW SHARE MODE`);
      const move = spawn(process.execPath, [DB_CLI, 'split', '--service', service, '--to', targetOf(service)], {
        env: { ...process.env, ...UNPLACED, ...settings() },
        stdio: 'ignore',
      });
      const exited = new Promise((resolve) => move.once('exit', resolve));
      await pollUntil(
        'the move waiting for the lock',
        async () => {
          const waiting = await queryAt<{ n: number }>(
            sharedUrl,
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'LOCK TABLE%'`,
          );
          return waiting[0]?.n ? true : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      move.kill('SIGKILL');
      await exited;
    } finally {
      await report.query('ROLLBACK').catch(() => undefined);
      await report.end();
    }
    await expect(assertMigrated(service, targetOf(service), 'PROFILE_DATABASE_URL')).rejects.toThrow(
      /stopped before the data was copied: run the same db:split again/,
    );
  }

  for (const service of SERVICES) {
    describe(`after moving ${service} into a database of its own`, () => {
      beforeAll(async () => {
        const counts = await rowCounts(sharedUrl, [service]);
        await stack.stopSubgraph(service);
        if (service === 'profile') await killedBeforeTheCopy(service, 'profiles');
        const result = await dbSplit(['--service', service, '--to', targetOf(service)], settings());
        expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
        expect(result.stdout).toContain(`Moved ${service}: ${counts.length} tables`);
        if (service === 'profile')
          expect(result.stdout).toContain('The target holds the profile schema an earlier db:split prepared and stopped before filling');
        expect(result.stdout).toContain('every count and checksum verified');
        expect(result.stdout).toContain(`${serviceUrlVariable(service)}=postgresql://${service}_svc:<${service.toUpperCase()}_DB_PASSWORD>@`);
        for (const { table, rows } of counts) expect(result.stdout).toContain(`  ${table}: ${rows} rows, checksum `);
        // The owner's password, where the URL has one, is not printed with the settings to copy.
        const { password } = new URL(targetOf(service));
        if (password) expect(result.stdout).not.toContain(`:${password}@`);
        expect(result.stdout).toMatch(new RegExp(`${serviceUrlVariable(service)}=postgresql://[^\\s]*@.*# for npm start and npm run db:migrate`));
        // The old copy is retired: renamed, out of the service's reach.
        const retired = /schema (\S+_moved_\d+)/.exec(result.stdout)?.[1];
        expect(await queryAt(sharedUrl, 'SELECT nspname FROM pg_namespace WHERE nspname IN ($1, $2)', [service, retired])).toEqual([{ nspname: retired }]);
        if (service === 'payments') await interruptAndFinish(retired as string);
        moved[serviceUrlVariable(service)] = targetOf(service);
        await stack.startSubgraph(service, { [serviceUrlVariable(service)]: targetOf(service) });
      }, 60_000);

      endToEndTests(() => stack);
    });
  }

  describe('what could go wrong after a move', () => {
    const unplaced = () => ({ ...process.env, ...UNPLACED });

    it('refuses to migrate a service again where it was moved out of, naming the setting to change', async () => {
      // The routine migrate job, still pointed at the shared database for profile: it must not make an empty schema there.
      await expect(prepareDatabases({ ...unplaced(), ...settings(), PROFILE_DATABASE_URL: '' }, { services: ['profile'], quiet: true })).rejects.toThrow(
        /^DATABASE_URL: profile was moved out of .* by db:split \(its old copy is profile_moved_\d+\); point PROFILE_DATABASE_URL at its new database$/,
      );
      expect(await queryAt(sharedUrl, `SELECT 1 FROM pg_namespace WHERE nspname = 'profile'`)).toEqual([]);
    });
  });

  describe('and back: payments returns to the shared database', () => {
    beforeAll(async () => {
      await stack.stopSubgraph('payments');
      const back = await dbSplit(['--service', 'payments', '--from', targetOf('payments'), '--to', sharedUrl], settings());
      expect({ code: back.code, stderr: back.stderr }).toEqual({ code: 0, stderr: '' });
      // It said to switch payments "to its new database" with the setting to unset.
      expect(back.stdout).toContain("payments is back in DATABASE_URL's database: unset PAYMENTS_DATABASE_URL, then start it again");
      delete moved[serviceUrlVariable('payments')];
      await stack.startSubgraph('payments', { PAYMENTS_DATABASE_URL: sharedUrl });
    }, 60_000);

    it('serves the payments made before both moves', async () => {
      const carol = await graphql<{ login: { accessToken: string } }>(
        stack.gatewayUrl,
        'mutation { login(input: { email: "carol@example.com", password: "user-demo-password" }) { accessToken } }',
      );
      const totals = await graphql(stack.gatewayUrl, '{ me { paymentTotals { currency amount } } }', { token: carol.data?.login.accessToken as string });
      expect(totals.data).toEqual({
        me: {
          paymentTotals: [
            { currency: 'GBP', amount: '75.00' },
            { currency: 'KWD', amount: '12.345' },
          ],
        },
      });
    });
  });
});
