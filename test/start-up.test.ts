import { REPOSITORY_ROOT, freePort, pollUntil } from '@fedstack/runtime';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createScratchDatabases, ownerUrlFor, type ScratchDatabases } from '@fedstack/shared-db';
import { testTokens } from '@fedstack/service-kit/testing';

/** Runs a service's entry point as its container would, until it exits on its own (or 20 s pass). */
function run(entry: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(REPOSITORY_ROOT, entry)], { env: { ...process.env, ...env } });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

/**
 * A setting the code cannot honour stops the process at start with one line that names it, rather than
 * serving wrong answers: here, a service given a database of its own that nobody has migrated.
 */
describe('start-up checks', () => {
  let empty: ScratchDatabases;
  beforeAll(async () => {
    const server = new URL(ownerUrlFor('payments'));
    server.pathname = '/postgres';
    empty = await createScratchDatabases('shared', { DATABASE_URL: server.toString() });
  });
  afterAll(() => empty.drop());

  it('refuses to start payments on a database without its migrations, naming the setting and what to do', async () => {
    const tokens = await testTokens();
    const url = empty.env.DATABASE_URL as string;
    const result = await run('subgraphs/payments/dist/main.js', {
      ...tokens.env,
      PAYMENTS_DATABASE_URL: url,
      PAYMENTS_PORT: String(await freePort()),
      LOG_LEVEL: 'silent',
    });
    expect(result.code).toBe(1);
    const database = new URL(url).pathname;
    expect(result.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        new RegExp(
          `^error: PAYMENTS_DATABASE_URL: the payments schema at payments_svc@[^ ]+${database} lacks every migration \\(run npm run db:migrate with the owner's connection first\\)$`,
        ),
      ),
    ]);
  });

  it('exits with 75 (EX_TEMPFAIL: `npm start` starts it again for as long as it takes) when its database cannot be reached, and 1 when the database it names does not exist', async () => {
    const tokens = await testTokens();
    const down = new URL(ownerUrlFor('profile'));
    down.port = String(await freePort());
    const missing = new URL(ownerUrlFor('profile'));
    missing.pathname = '/no_such_database_for_this_test';
    const [unreachable, noDatabase] = await Promise.all(
      [down, missing].map(async (url) =>
        run('subgraphs/profile/dist/main.js', {
          ...tokens.env,
          PROFILE_DATABASE_URL: url.toString(),
          PROFILE_PORT: String(await freePort()),
          LOG_LEVEL: 'silent',
        }),
      ),
    );
    expect({ code: unreachable?.code, said: unreachable?.stderr.trim() }).toEqual({
      code: 75,
      said: expect.stringMatching(/^error: PROFILE_DATABASE_URL: cannot connect to PostgreSQL at .*: nothing is listening there \(connection refused\)$/),
    });
    expect({ code: noDatabase?.code, said: noDatabase?.stderr.trim() }).toEqual({
      code: 1,
      said: expect.stringMatching(/^error: PROFILE_DATABASE_URL: cannot connect to PostgreSQL at .*: the database does not exist$/),
    });
  });

  it('refuses to start profile with a replica URL that points at a primary, naming the setting', async () => {
    const tokens = await testTokens();
    // The run's own database, which is no replica: reads from it would be sent where no replica is.
    const result = await run('subgraphs/profile/dist/main.js', {
      ...tokens.env,
      PROFILE_DATABASE_REPLICA_URL: ownerUrlFor('profile'),
      PROFILE_PORT: String(await freePort()),
      LOG_LEVEL: 'silent',
    });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^error: PROFILE_DATABASE_REPLICA_URL: profile_svc@[^ ]+ is not a replica \(pg_is_in_recovery\(\) is false there\): give a streaming replica of the service's database$/,
      ),
    ]);
  });

  it('warns of a variable a slip away from one of its settings, which it ignores (a misspelt setting went unsaid)', async () => {
    const tokens = await testTokens();
    const child = spawn(process.execPath, [path.join(REPOSITORY_ROOT, 'subgraphs/profile/dist/main.js')], {
      env: { ...process.env, ...tokens.env, PROFILE_PORT: String(await freePort()), LOG_LEVEL: 'warn', DB_POOL_SIZ: '3' },
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    try {
      await pollUntil(
        'the warning',
        async () => output.includes('"msg":"DB_POOL_SIZ is no setting of this process, and is ignored: DB_POOL_SIZE was meant?"'),
        {
          timeoutMs: 20_000,
          intervalMs: 50,
        },
      );
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});
