import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { databaseLayout, ownerUrlFor, serviceConnection } from './config';
import { describeTarget, explainConnectionError } from './errors';
import { seedDemoData } from './seed';
import { REPOSITORY_ROOT, SERVICES, StartupError } from '@fedstack/runtime';
import pg from 'pg';
import { applyPendingMigrations } from './migrations';
import { createScratchDatabases, type ScratchDatabases } from './provision';
import { migrationNames, runPrismaCli } from './prisma-cli';
import { ensureServiceRole, prepareDatabases } from './setup';
import { ownerQuery, queryAt } from './testing';

const DB_CLI = path.resolve(__dirname, '..', 'dist', 'cli', 'db.js');

/** The CLI is given one database setting at a time: the run's per-service URLs (split layout) would win over it. */
const noServiceUrls = Object.fromEntries(SERVICES.map((service) => [`${service.toUpperCase()}_DATABASE_URL`, '']));

/** The run's server, through its `postgres` database. */
function serverUrl(): string {
  const url = new URL(ownerUrlFor('payments'));
  url.pathname = '/postgres';
  return url.toString();
}

/** A new, empty database of the shared layout on the run's server, for a test that prepares it itself. */
const freshSharedDatabase = () => createScratchDatabases('shared', { DATABASE_URL: serverUrl() });

function runDbCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [DB_CLI, ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

describe('migrations, one history per service', () => {
  it.each(SERVICES)('%s: applies nothing on a second run, and says so', async (service) => {
    const result = await runPrismaCli(service, ['migrate', 'deploy'], { ownerUrl: ownerUrlFor(service), capture: true });
    expect(result.code).toBe(0);
    expect(result.output).toContain('No pending migrations to apply.');
  });

  it.each(SERVICES)('%s: keeps its history in its own schema, and only its own migrations there', async (service) => {
    const rows = await ownerQuery<{ migration_name: string }>(
      service,
      `SELECT migration_name FROM "${service}"._prisma_migrations WHERE finished_at IS NOT NULL ORDER BY migration_name`,
    );
    expect(rows.map((row) => row.migration_name)).toEqual(migrationNames(service));
  });

  it.each(SERVICES)('%s: match its Prisma schema (no drift between prisma/<service>/schema.prisma and its migrations)', async (service) => {
    const result = await runPrismaCli(
      service,
      ['migrate', 'diff', '--from-migrations', `prisma/${service}/migrations`, '--to-schema-datamodel', `prisma/${service}/schema.prisma`, '--exit-code'],
      { ownerUrl: ownerUrlFor(service), capture: true },
    );
    expect(result.output).toContain('No difference detected.');
    expect(result.code).toBe(0);
  });

  it('can be prepared again (roles, migrations, grants) without changing anything', async () => {
    await expect(prepareDatabases(process.env, { quiet: true })).resolves.toBeUndefined();
  });

  describe("applied without Prisma's CLI when the history is a clean beginning of the repository's", () => {
    const newest = migrationNames('payments').at(-1) as string;
    const apply = () => applyPendingMigrations('payments', ownerUrlFor('payments'), 'DATABASE_URL');
    /** Changes this worker's payments history, applies, and puts the newest migration's row back as it was (and no other). */
    async function applyAfter(change: string): Promise<Awaited<ReturnType<typeof apply>>> {
      const [saved] = await ownerQuery('payments', 'SELECT to_json(m) AS row FROM payments._prisma_migrations m WHERE migration_name = $1', [newest]);
      await ownerQuery('payments', change, [newest]);
      try {
        return await apply();
      } finally {
        await ownerQuery('payments', "DELETE FROM payments._prisma_migrations WHERE migration_name LIKE $1 || '%'", [newest]);
        await ownerQuery(
          'payments',
          'INSERT INTO payments._prisma_migrations SELECT * FROM json_populate_record(NULL::payments._prisma_migrations, $1::json)',
          [JSON.stringify(saved?.row)],
        );
      }
    }

    it('nothing to apply on a migrated schema', async () => {
      expect(await apply()).toEqual({ applied: [] });
    });

    it.each([
      ['a migration applied from a file since changed', "UPDATE payments._prisma_migrations SET checksum = 'changed' WHERE migration_name = $1"],
      [
        'a failed attempt beside every migration applied (migrate deploy refuses to go on, P3009)',
        "INSERT INTO payments._prisma_migrations (id, checksum, migration_name, started_at) VALUES (gen_random_uuid()::text, 'x', $1 || '_failed', now())",
      ],
      [
        'a migration this code does not have (from a newer version)',
        "INSERT INTO payments._prisma_migrations (id, checksum, migration_name, started_at, finished_at) VALUES (gen_random_uuid()::text, 'x', $1 || '_newer', now(), now())",
      ],
    ])('left to the CLI with %s', async (_case, change) => {
      expect(await applyAfter(change)).toBe('left to the CLI');
      expect(await apply()).toEqual({ applied: [] });
    });

    it('a migration that fails leaves neither its changes nor its history row, and says which', async () => {
      // The newest migration is missing from the history while its objects are there: applying it again fails.
      const failure = applyAfter('DELETE FROM payments._prisma_migrations WHERE migration_name = $1');
      await expect(failure).rejects.toThrow(`payments: migration ${newest} failed, and nothing of it was applied: `);
      // One line from the commands, as their other known failures (it was a stack and pg's error object).
      await expect(failure).rejects.toBeInstanceOf(StartupError);
      expect(await apply()).toEqual({ applied: [] });
    });
  });
});

describe("migrations applied without Prisma's CLI, on a new database", () => {
  let scratch: ScratchDatabases;
  const history = async (url: string) =>
    (
      await queryAt<{ migration_name: string; applied_steps_count: number }>(
        url,
        'SELECT migration_name, applied_steps_count FROM payments._prisma_migrations ORDER BY 1',
      )
    ).map((row) => `${row.migration_name} ${row.applied_steps_count}`);
  beforeEach(async () => {
    scratch = await freshSharedDatabase();
    await queryAt(scratch.env.DATABASE_URL as string, 'CREATE SCHEMA payments');
  });
  afterEach(() => scratch.drop());

  it('records them as Prisma Migrate does, so that its CLI finds nothing to apply', async () => {
    const url = scratch.env.DATABASE_URL as string;
    expect(await applyPendingMigrations('payments', url, 'DATABASE_URL')).toEqual({ applied: migrationNames('payments') });
    expect(await history(url)).toEqual(migrationNames('payments').map((name) => `${name} 1`));
    const status = await runPrismaCli('payments', ['migrate', 'status'], { ownerUrl: url, capture: true });
    expect(status.output).toContain('Database schema is up to date!');
    expect(status.code).toBe(0);
  });

  it("applies each migration once when two migrators start together (Prisma Migrate's lock)", async () => {
    const url = scratch.env.DATABASE_URL as string;
    const outcomes = await Promise.all([applyPendingMigrations('payments', url, 'DATABASE_URL'), applyPendingMigrations('payments', url, 'DATABASE_URL')]);
    expect(outcomes).toEqual(expect.arrayContaining([{ applied: migrationNames('payments') }, { applied: [] }]));
    expect(await history(url)).toEqual(migrationNames('payments').map((name) => `${name} 1`));
  });
});

describe('db:migrate --service', () => {
  // With DATABASE_URL placing every service, only the one named may be migrated, whichever way the flag is written.
  it.each([[['--service', 'payments']], [['--service=payments']]])('%j migrates that service alone', async (flag) => {
    const scratch = await freshSharedDatabase();
    try {
      const result = await runDbCli(['migrate', ...flag], { DATABASE_URL: scratch.env.DATABASE_URL, ...noServiceUrls });
      expect(result.code).toBe(0);
      // Run again, it finds nothing to apply without starting Prisma's CLI (whose output would follow).
      const again = await runDbCli(['migrate', ...flag], { DATABASE_URL: scratch.env.DATABASE_URL, ...noServiceUrls });
      expect({ code: again.code, printed: again.stdout.trim().split('\n') }).toEqual({
        code: 0,
        printed: [`payments: every migration is applied (${migrationNames('payments').length}); nothing to migrate.`],
      });
      const client = new pg.Client(scratch.env.DATABASE_URL);
      await client.connect();
      try {
        const { rows } = await client.query<{ schema: string }>(
          `SELECT table_schema AS schema FROM information_schema.tables WHERE table_name = '_prisma_migrations' ORDER BY 1`,
        );
        expect(rows.map((row) => row.schema)).toEqual(['payments']);
      } finally {
        await client.end();
      }
    } finally {
      await scratch.drop();
    }
  });
});

/** Runs `work` on a fresh shared-layout database that `db:migrate` (with `args`) has prepared; dropped after. */
async function onMigratedSharedDatabase(args: string[], work: (shared: string) => Promise<void>): Promise<void> {
  const scratch = await freshSharedDatabase();
  const shared = scratch.env.DATABASE_URL as string;
  try {
    expect((await runDbCli(['migrate', ...args], { DATABASE_URL: shared, ...noServiceUrls })).code).toBe(0);
    await work(shared);
  } finally {
    await scratch.drop();
  }
}

/** What `db:migrate` answered, as its exit code and the lines it wrote to stderr. */
const answered = (result: { code: number; stderr: string }) => ({ code: result.code, said: result.stderr.trim().split('\n') });

describe("a service placed outside DATABASE_URL's database while that still holds its data", () => {
  it('is refused for DB_LAYOUT=split, naming the services whose data it holds and the move, and no database is made', async () => {
    await onMigratedSharedDatabase(['--service', 'payments'], async (shared) => {
      const split = await runDbCli(['migrate'], { DATABASE_URL: shared, DB_LAYOUT: 'split', ...noServiceUrls });
      expect(answered(split)).toEqual({
        code: 1,
        said: [
          `error: DB_LAYOUT=split gives payments a database of its own, but DATABASE_URL's database (${describeTarget(shared)}) still holds its data: ` +
            'move it first (npm run db:split -- --service payments --to <its new database>), or leave DB_LAYOUT unset',
        ],
      });
      const name = new URL(shared).pathname.slice(1);
      const made = await queryAt<{ datname: string }>(serverUrl(), 'SELECT datname FROM pg_database WHERE starts_with(datname, $1)', [`${name}_`]);
      expect(made).toEqual([]);
    });
  });

  it('is refused for its own <SERVICE>_DATABASE_URL, naming the service, its setting and the move (the compose split file switched to before every service was moved)', async () => {
    await onMigratedSharedDatabase([], async (shared) => {
      const own = new URL(shared);
      own.pathname = `${own.pathname}_own_auth`;
      try {
        const moved = await runDbCli(['migrate'], { DATABASE_URL: shared, ...noServiceUrls, AUTH_DATABASE_URL: own.toString() });
        expect(answered(moved)).toEqual({
          code: 1,
          said: [
            `error: AUTH_DATABASE_URL gives auth a database of its own, but DATABASE_URL's database (${describeTarget(shared)}) still holds its data: ` +
              'move it first (npm run db:split -- --service auth --to <its new database>), or unset AUTH_DATABASE_URL',
          ],
        });
        const made = await queryAt<{ datname: string }>(serverUrl(), 'SELECT datname FROM pg_database WHERE datname = $1', [own.pathname.slice(1)]);
        expect(made).toEqual([]);
      } finally {
        await queryAt(serverUrl(), `DROP DATABASE IF EXISTS "${own.pathname.slice(1)}"`);
      }
    });
  });

  it("is refused for a first release's database (one history for every schema), saying to upgrade it first: split, it was given new databases and seeded", async () => {
    const scratch = await freshSharedDatabase();
    const shared = scratch.env.DATABASE_URL as string;
    try {
      await queryAt(shared, readFileSync(path.join(REPOSITORY_ROOT, 'shared-db', 'fixtures', 'legacy-shared-3e3e354.sql'), 'utf8'));
      const split = await runDbCli(['migrate'], { DATABASE_URL: shared, DB_LAYOUT: 'split', ...noServiceUrls });
      expect(answered(split)).toEqual({
        code: 1,
        said: [
          `error: DB_LAYOUT=split gives auth, profile, payments, admin databases of their own, but DATABASE_URL's database (${describeTarget(shared)}) still holds their data: ` +
            'move each first (npm run db:migrate with that setting unset, then npm run db:split -- --service auth --to <its new database>), or leave DB_LAYOUT unset',
        ],
      });
      // Nor can it be moved before it is upgraded (db:split said only that it held no migrated schema).
      const target = new URL(shared);
      target.pathname = `${target.pathname}_payments`;
      const moved = await runDbCli(['split', '--service', 'payments', '--to', target.toString()], { DATABASE_URL: shared, ...noServiceUrls });
      expect(answered(moved)).toEqual({
        code: 1,
        said: [
          expect.stringContaining("the source database is a first release's (one migration history for every schema): upgrade it first (npm run db:migrate"),
        ],
      });
      const name = new URL(shared).pathname.slice(1);
      expect(await queryAt(serverUrl(), 'SELECT datname FROM pg_database WHERE starts_with(datname, $1)', [`${name}_`])).toEqual([]);
    } finally {
      await scratch.drop();
    }
  });

  it("asks in production for the role's password to move a service, and nothing else (it offered a role's URL, which --to cannot be)", async () => {
    const split = await runDbCli(['split', '--service', 'payments', '--to', 'postgresql://postgres:pw@127.0.0.1:5432/elsewhere'], {
      DATABASE_URL: 'postgresql://postgres:pw@127.0.0.1:5432/fedstack',
      ...noServiceUrls,
      NODE_ENV: 'production',
    });
    expect(answered(split)).toEqual({
      code: 1,
      said: ["error: db:split: PAYMENTS_DB_PASSWORD must be set in production: the password the payments service's role gets on the new database"],
    });
  });

  it('is no other place when the URL names the same database under another address: migrated as before (the check refused `localhost` for `127.0.0.1`)', async () => {
    await onMigratedSharedDatabase([], async (shared) => {
      const alias = new URL(shared);
      alias.hostname = alias.hostname === 'localhost' ? '127.0.0.1' : 'localhost';
      const again = await runDbCli(['migrate'], { DATABASE_URL: shared, ...noServiceUrls, PROFILE_DATABASE_URL: alias.toString() });
      expect({ code: again.code, said: again.stderr.trim() }).toEqual({ code: 0, said: '' });
    });
  });
});

describe("a service's role", () => {
  it('keeps the password of a role that exists when the settings give none: the development default is set only on a role it creates', async () => {
    const ownerUrl = ownerUrlFor('payments');
    // A role of this test's own: the services' roles belong to the whole server, which other tests share.
    const role = `role_${randomBytes(4).toString('hex')}`;
    const stored = async () =>
      (await queryAt<{ rolpassword: string }>(ownerUrl, 'SELECT rolpassword FROM pg_authid WHERE rolname = $1', [role]))[0]?.rolpassword;
    const connection = { ...serviceConnection('payments'), role, password: 'the-development-default', passwordGiven: false };
    try {
      await ensureServiceRole(ownerUrl, connection);
      const created = await stored();
      expect(created).toBeDefined();
      // An operator sets the real one; a command run later without <SERVICE>_DB_PASSWORD leaves it alone.
      await queryAt(ownerUrl, `ALTER ROLE "${role}" PASSWORD 'the-real-one'`);
      const real = await stored();
      await ensureServiceRole(ownerUrl, connection);
      expect(await stored()).toBe(real);
      // One given in the settings is set.
      await ensureServiceRole(ownerUrl, { ...connection, password: 'given-now', passwordGiven: true });
      expect(await stored()).not.toBe(real);
    } finally {
      await queryAt(ownerUrl, `DROP ROLE IF EXISTS "${role}"`);
    }
  });
});

describe("a service's role, as the owner of a managed database (CREATEROLE, not a superuser) keeps it", () => {
  const server = serverUrl();
  const suffix = randomBytes(4).toString('hex');
  const owner = `owner_${suffix}`;
  const role = `role_${suffix}`;
  const asOwner = new URL(server);
  asOwner.username = owner;
  asOwner.password = suffix;
  const connection = { ...serviceConnection('payments'), role, password: 'the-development-default', passwordGiven: false };
  beforeAll(() => queryAt(server, `CREATE ROLE "${owner}" LOGIN CREATEROLE PASSWORD '${suffix}'`));
  afterAll(async () => {
    await queryAt(server, `DROP ROLE IF EXISTS "${role}"`);
    await queryAt(server, `DROP ROLE IF EXISTS "${owner}"`);
  });

  it('is made, then found as it should be on every later run, a password given or not', async () => {
    await ensureServiceRole(asOwner.toString(), connection);
    await ensureServiceRole(asOwner.toString(), connection);
    await ensureServiceRole(asOwner.toString(), { ...connection, password: 'given-now', passwordGiven: true });
    const [attributes] = await queryAt<Record<string, boolean>>(
      server,
      'SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolinherit FROM pg_roles WHERE rolname = $1',
      [role],
    );
    expect(attributes).toEqual({ rolcanlogin: true, rolsuper: false, rolcreatedb: false, rolcreaterole: false, rolinherit: false });
  });

  it('says what to do when the role is a superuser, which only a superuser may change', async () => {
    await ensureServiceRole(asOwner.toString(), connection);
    await queryAt(server, `ALTER ROLE "${role}" SUPERUSER`);
    await expect(ensureServiceRole(asOwner.toString(), connection)).rejects.toThrow(
      `${connection.source}: the role ${role} must be changed (ALTER ROLE "${role}" NOSUPERUSER), which its owner may not do: a superuser must run it`,
    );
  });
});

describe('a bad DATABASE_URL fails at start with one line naming the problem', () => {
  it('unreachable server', async () => {
    const result = await runDbCli(['migrate'], { DATABASE_URL: 'postgresql://postgres@127.0.0.1:1/fedstack', ...noServiceUrls });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      'error: DATABASE_URL: cannot connect to PostgreSQL at postgres@127.0.0.1:1/fedstack: nothing is listening there (connection refused)',
    ]);
  });

  it('database that does not exist', async () => {
    const url = new URL(ownerUrlFor('auth'));
    url.pathname = '/no_such_database_here';
    // The owner may create a missing database, so the role (which may not) is asked to find one.
    url.username = 'auth_svc';
    url.password = 'auth_svc_local_only';
    const result = await runDbCli(['migrate'], { DATABASE_URL: url.toString(), ...noServiceUrls });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^error: DATABASE_URL: cannot connect to PostgreSQL at .*\/no_such_database_here: the database does not exist/);
  });

  it('not a URL at all', async () => {
    const result = await runDbCli(['migrate'], { DATABASE_URL: 'localhost:5432', ...noServiceUrls });
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe('error: DATABASE_URL must start with postgresql:// (got "localhost:")');
  });

  it('refused password (PostgreSQL error 28P01)', () => {
    const error = Object.assign(new Error('password authentication failed for user "postgres"'), { code: '28P01' });
    expect(explainConnectionError(error, 'postgresql://postgres:secret@db.internal:5433/app', 'DATABASE_URL').message).toBe(
      'DATABASE_URL: cannot connect to PostgreSQL at postgres@db.internal:5433/app: the password was refused',
    );
  });
});

describe('one service at a time', () => {
  it("creates and migrates one service's database alone (db:migrate --service payments), touching no other", async () => {
    const fresh = await freshSharedDatabase();
    const url = fresh.env.DATABASE_URL as string;
    try {
      const result = await runDbCli(['migrate', '--service', 'payments'], { DATABASE_URL: '', ...noServiceUrls, PAYMENTS_DATABASE_URL: url });
      expect(result.code).toBe(0);
      const client = new pg.Client(url);
      await client.connect();
      try {
        const { rows } = await client.query(`SELECT nspname FROM pg_namespace WHERE nspname = ANY($1) ORDER BY 1`, [SERVICES]);
        expect(rows).toEqual([{ nspname: 'payments' }]);
        const history = await client.query<{ migration_name: string }>('SELECT migration_name FROM payments._prisma_migrations ORDER BY 1');
        expect(history.rows.map((row) => row.migration_name)).toEqual(migrationNames('payments'));
      } finally {
        await client.end();
      }
    } finally {
      await fresh.drop();
    }
  });
});

describe('seed', () => {
  it('does not make again a demo account that was erased, the admin included (each start and compose up made it anew, with its password)', async () => {
    const scratch = await createScratchDatabases(databaseLayout(process.env), process.env);
    try {
      await prepareDatabases(scratch.env, { quiet: true });
      await seedDemoData(scratch.env);
      const owner = (service: 'auth' | 'profile') => ownerUrlFor(service, scratch.env);
      // As auth's and profile's parts of an erasure leave them.
      const erased = await queryAt<{ id: string }>(
        owner('auth'),
        `UPDATE auth.users SET email = 'erased+' || id || '@erased.invalid', erased_at = now()
         WHERE email IN ('erin@example.com', 'admin@example.com') RETURNING id`,
      );
      const ids = erased.map(({ id }) => id);
      await queryAt(owner('auth'), 'DELETE FROM auth.password_credentials WHERE user_id = ANY($1::uuid[])', [ids]);
      await queryAt(owner('profile'), 'DELETE FROM profile.profiles WHERE user_id = ANY($1::uuid[])', [ids]);

      expect(await seedDemoData(scratch.env)).toEqual({ usersCreated: 0, paymentsCreated: 0 });
      expect(await queryAt(owner('auth'), `SELECT email FROM auth.users WHERE email IN ('erin@example.com', 'admin@example.com')`)).toEqual([]);
      expect(await queryAt(owner('profile'), 'SELECT user_id FROM profile.profiles WHERE user_id = ANY($1::uuid[])', [ids])).toEqual([]);
    } finally {
      await scratch.drop();
    }
  });

  it('is idempotent and loads an admin and users with profiles and payments in several currencies and statuses', async () => {
    expect(await seedDemoData(process.env)).toEqual({ usersCreated: 0, paymentsCreated: 0 });
    const [auth] = await ownerQuery<{ admins: number; users: number }>(
      'auth',
      `SELECT count(*) FILTER (WHERE role = 'ADMIN' AND email = 'admin@example.com')::int AS admins,
              count(*) FILTER (WHERE role = 'USER' AND email LIKE '%@example.com')::int AS users FROM auth.users`,
    );
    const [profile] = await ownerQuery<{ profiles: number }>('profile', 'SELECT count(*)::int AS profiles FROM profile.profiles');
    const [payments] = await ownerQuery<{ currencies: number; statuses: number }>(
      'payments',
      'SELECT count(DISTINCT currency)::int AS currencies, count(DISTINCT status)::int AS statuses FROM payments.payments',
    );
    expect(auth).toEqual({ admins: 1, users: expect.any(Number) });
    expect(auth?.users).toBeGreaterThanOrEqual(5);
    expect(profile?.profiles).toBeGreaterThanOrEqual(6);
    expect(payments?.currencies).toBeGreaterThanOrEqual(3);
    expect(payments?.statuses).toBeGreaterThanOrEqual(4);
  });
});
