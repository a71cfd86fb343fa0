import { spawn } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { ownerUrl } from './config';
import { explainConnectionError } from './errors';
import { seedDemoData } from './seed';
import { prepareDatabase, runPrismaCli } from './setup';

const DB_CLI = path.resolve(__dirname, '..', 'dist', 'cli', 'db.js');

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

describe('migrations', () => {
  it('applies nothing on a second run, and says so', async () => {
    const result = await runPrismaCli(['migrate', 'deploy'], { ownerUrl: ownerUrl(), capture: true });
    expect(result.code).toBe(0);
    expect(result.output).toContain('No pending migrations to apply.');
  });

  it('match the Prisma schema (no drift between prisma/schema and prisma/migrations)', async () => {
    const result = await runPrismaCli(
      ['migrate', 'diff', '--from-migrations', 'prisma/migrations', '--to-schema-datamodel', 'prisma/schema', '--exit-code'],
      { ownerUrl: ownerUrl(), capture: true },
    );
    expect(result.output).toContain('No difference detected.');
    expect(result.code).toBe(0);
  });

  it('can be prepared again (roles, migrations, grants) without changing anything', async () => {
    await expect(prepareDatabase(ownerUrl(), { quiet: true })).resolves.toBeUndefined();
  });
});

describe('a bad DATABASE_URL fails at start with one line naming the problem', () => {
  it('unreachable server', async () => {
    const result = await runDbCli(['migrate'], { DATABASE_URL: 'postgresql://postgres@127.0.0.1:1/fedstack' });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      'error: DATABASE_URL: cannot connect to PostgreSQL at postgres@127.0.0.1:1/fedstack: nothing is listening there (connection refused)',
    ]);
  });

  it('database that does not exist', async () => {
    const url = new URL(ownerUrl());
    url.pathname = '/no_such_database_here';
    const result = await runDbCli(['migrate'], { DATABASE_URL: url.toString() });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^error: DATABASE_URL: cannot connect to PostgreSQL at .*\/no_such_database_here: the database does not exist/);
  });

  it('not a URL at all', async () => {
    const result = await runDbCli(['migrate'], { DATABASE_URL: 'localhost:5432' });
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

describe('seed', () => {
  it('is idempotent and loads an admin and users with profiles and payments in several currencies and statuses', async () => {
    expect(await seedDemoData(ownerUrl())).toEqual({ usersCreated: 0, paymentsCreated: 0 });
    const owner = new pg.Client(ownerUrl());
    await owner.connect();
    try {
      const { rows } = await owner.query(`
        SELECT (SELECT count(*)::int FROM auth.users WHERE role = 'ADMIN' AND email = 'admin@example.com') AS admins,
               (SELECT count(*)::int FROM auth.users u JOIN profile.profiles p ON p.user_id = u.id
                 WHERE u.role = 'USER' AND u.email LIKE '%@example.com') AS users_with_profiles,
               (SELECT count(DISTINCT currency)::int FROM payments.payments) AS currencies,
               (SELECT count(DISTINCT status)::int FROM payments.payments) AS statuses`);
      expect(rows[0].admins).toBe(1);
      expect(rows[0].users_with_profiles).toBeGreaterThanOrEqual(5);
      expect(rows[0].currencies).toBeGreaterThanOrEqual(3);
      expect(rows[0].statuses).toBeGreaterThanOrEqual(4);
    } finally {
      await owner.end();
    }
  });
});
