import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import { ColumnTypeEnum } from '@prisma/driver-adapter-utils';
import { createServiceClient } from './client';
import { MigrationAdapterFactory, cliArguments, migrationConnection, offlineCliEnvironment } from './prisma-workarounds';
import { runPrismaCli } from './prisma-cli';
import { scratchDatabase } from './testing';

// Each workaround in prisma-workarounds.js is checked twice: it works, and the problem it works around is
// still there in the Prisma packages the lockfile holds. When an upgrade fixes a problem, its "still
// needed" test fails: delete the workaround and that test.

const SHARED_DB_ROOT = path.resolve(__dirname, '..');
const REPOSITORY_ROOT = path.resolve(SHARED_DB_ROOT, '..');
const PRISMA_CLI = path.join(path.dirname(require.resolve('prisma/package.json')), 'build', 'index.js');
const raw = (sql: string) => ({ sql, args: [], argTypes: [] });
const FUNCTION_SCRIPT = `CREATE FUNCTION workaround_check() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$;`;

/** Runs Prisma's CLI with exactly `env` (plus PATH), from shared-db, capturing what it prints. */
function prismaCli(args: string[], env: Record<string, string>, options: { cwd?: string; onLine?: (line: string) => void } = {}) {
  const child = spawn(process.execPath, [PRISMA_CLI, ...args], { cwd: options.cwd ?? SHARED_DB_ROOT, env: { PATH: process.env.PATH ?? '', ...env } });
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    options.onLine?.(output);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
  return { child, exited, output: () => output };
}

describe('Prisma workarounds', () => {
  let scratch: Awaited<ReturnType<typeof scratchDatabase>>;
  let url: string;
  let database: string;

  beforeAll(async () => {
    scratch = await scratchDatabase('prisma');
    url = scratch.url;
    database = new URL(url).pathname.slice(1);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query('CREATE SCHEMA auth');
    await client.end();
  });
  afterAll(() => scratch.drop());

  describe('1. the offline environment', () => {
    it('lets the CLI start without DATABASE_URL and without downloading', async () => {
      const cli = prismaCli(['format', '--check'], offlineCliEnvironment('auth'));
      expect(await cli.exited).toBe(0);
      expect(cli.output()).toContain('Prisma schema loaded from prisma/auth/schema.prisma');
    });

    it('is still needed: without it the CLI tries to download the query engine', async () => {
      const { PRISMA_QUERY_ENGINE_LIBRARY: _library, ...rest } = offlineCliEnvironment('auth');
      // An unreachable mirror, so that the attempt fails the same way with or without internet.
      const cli = prismaCli(['format', '--check'], { ...rest, PRISMA_ENGINES_MIRROR: 'http://127.0.0.1:9' });
      await cli.exited;
      expect(cli.output()).toMatch(/libquery_engine[^\n]* failed/);
    });
  });

  describe('2. PostgreSQL\'s internal "char" type', () => {
    const charQuery = raw(`SELECT 'a'::"char" AS kind`);

    it('reaches the schema engine as a character', async () => {
      const adapter = await new MigrationAdapterFactory(migrationConnection(url, 'auth')).connect();
      const result = await adapter.queryRaw(charQuery);
      await adapter.dispose();
      expect({ type: result.columnTypes[0], rows: result.rows }).toEqual({ type: ColumnTypeEnum.Character, rows: [['a']] });
    });

    it('is still needed: adapter-pg cannot read it', async () => {
      const adapter = await new PrismaPg({ connectionString: url }).connect();
      await expect(adapter.queryRaw(charQuery)).rejects.toThrow();
      await adapter.dispose();
    });
  });

  describe('3. the connection built from fields', () => {
    it('gives the shadow database a connection of its own', async () => {
      const shadow = await new MigrationAdapterFactory(migrationConnection(url, 'auth')).connectToShadowDb();
      const result = await shadow.queryRaw(raw('SELECT current_database() AS name'));
      await shadow.dispose();
      expect(result.rows[0]?.[0]).toMatch(/^prisma_shadow_/);
    });

    it("is still needed: from a connection string, adapter-pg's shadow connection reaches the main database", async () => {
      const shadow = await new PrismaPg({ connectionString: url }).connectToShadowDb();
      const result = await shadow.queryRaw(raw('SELECT current_database() AS name'));
      await shadow.dispose();
      expect(result.rows[0]?.[0]).toBe(database);
    });
  });

  describe('4. migration scripts sent whole', () => {
    it('runs a function body with semicolons in it', async () => {
      const adapter = await new MigrationAdapterFactory(migrationConnection(url, 'auth')).connect();
      await adapter.executeScript(FUNCTION_SCRIPT);
      const result = await adapter.queryRaw(raw('SELECT auth.workaround_check() AS one'));
      await adapter.dispose();
      expect(result.rows).toEqual([[1]]);
    });

    it('is still needed: adapter-pg splits the script on every semicolon', async () => {
      const adapter = await new PrismaPg({ connectionString: url, options: '-c search_path=auth' }).connect();
      await expect(adapter.executeScript(FUNCTION_SCRIPT.replace('workaround_check', 'workaround_split'))).rejects.toThrow();
      await adapter.dispose();
    });
  });

  describe('5. the shadow database dropped after its pool closes', () => {
    const shadowDatabases = async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const { rows } = await client.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE 'prisma%shadow%'`);
      await client.end();
      return rows.map((row) => row.datname);
    };

    it('leaves no shadow database behind', async () => {
      const shadow = await new MigrationAdapterFactory(migrationConnection(url, 'auth')).connectToShadowDb();
      // Its own name: other test files may be migrating (with shadow databases of their own) meanwhile.
      const [[name]] = (await shadow.queryRaw(raw('SELECT current_database()'))).rows as [[string]];
      expect(await shadowDatabases()).toContain(name);
      await shadow.dispose();
      expect(await shadowDatabases()).not.toContain(name);
    });

    it('is still needed: adapter-pg drops it while its own pool is connected, which PostgreSQL refuses', async () => {
      const { Client: _client, ...fields } = migrationConnection(url, 'auth');
      const shadow = await new PrismaPg(fields).connectToShadowDb();
      // Its own name, as above: a file migrating meanwhile has a shadow database of its own.
      const [[name]] = (await shadow.queryRaw(raw('SELECT current_database()'))).rows as [[string]];
      await expect(shadow.dispose()).rejects.toThrow();
      expect(await shadowDatabases()).toContain(name);
      await shadow.underlyingDriver().end();
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS "${name}"`);
      await client.end();
    });
  });

  describe("6. the schema engine's timers", () => {
    beforeAll(async () => {
      const deployed = await runPrismaCli('auth', ['migrate', 'deploy'], { ownerUrl: url, capture: true });
      expect(deployed.code).toBe(0);
    });

    it('let `migrate deploy` exit once it has done its work', async () => {
      expect(await exitsSoonAfterItsLastLine(['migrate', 'deploy'])).toBe(true);
    });

    it('are still needed: without the hook the engine holds the CLI open after its last line', async () => {
      // The same configuration as prisma.config.ts, without releaseEngineTimers().
      const dir = mkdtempSync(path.join(os.tmpdir(), 'fedstack-prisma-'));
      const config = path.join(dir, 'prisma.config.ts');
      writeFileSync(
        config,
        [
          `import { defineConfig } from ${JSON.stringify(require.resolve('prisma/config'))};`,
          `import { MigrationAdapterFactory, migrationConnection } from ${JSON.stringify(path.join(__dirname, 'prisma-workarounds.js'))};`,
          'export default defineConfig({',
          "  experimental: { adapter: true }, engine: 'js',",
          `  schema: ${JSON.stringify(path.join(SHARED_DB_ROOT, 'prisma', 'auth', 'schema.prisma'))},`,
          `  migrations: { path: ${JSON.stringify(path.join(SHARED_DB_ROOT, 'prisma', 'auth', 'migrations'))} },`,
          `  adapter: async () => new MigrationAdapterFactory(migrationConnection(${JSON.stringify(url)}, 'auth')),`,
          '});',
        ].join('\n'),
      );
      try {
        expect(await exitsSoonAfterItsLastLine(['migrate', 'deploy', '--config', config])).toBe(false);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    /** Whether the CLI, once it has printed that nothing is pending, exits within 3 s (the engine's timer holds it 10 s). */
    async function exitsSoonAfterItsLastLine(args: string[]): Promise<boolean> {
      let finished: () => void = () => undefined;
      const lastLine = new Promise<void>((resolve) => (finished = resolve));
      const cli = prismaCli(
        args,
        { ...offlineCliEnvironment('auth'), DATABASE_URL: url },
        {
          onLine: (output) => output.includes('No pending migrations to apply.') && finished(),
        },
      );
      try {
        await Promise.race([lastLine, cli.exited]);
        expect(cli.output()).toContain('No pending migrations to apply.');
        return await Promise.race([cli.exited.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 3000))]);
      } finally {
        cli.child.kill('SIGKILL');
      }
    }
  });

  describe("7. `db execute` on the service's database", () => {
    let dir: string;
    let script: string;
    beforeAll(() => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'fedstack-prisma-'));
      script = path.join(dir, 'script.sql');
      writeFileSync(script, 'CREATE TABLE auth.executed_by_prisma (id int)');
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('runs a script given no target, and leaves every other command and a target given alone', async () => {
      const executed = await runPrismaCli('auth', ['db', 'execute', '--file', script], { ownerUrl: url, capture: true });
      expect(executed).toEqual({ code: 0, output: expect.stringContaining('Script executed successfully') });
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        expect((await client.query(`SELECT to_regclass('auth.executed_by_prisma') IS NOT NULL AS made`)).rows).toEqual([{ made: true }]);
      } finally {
        await client.end();
      }
      expect(cliArguments('auth', ['migrate', 'status'])).toEqual(['migrate', 'status']);
      expect(cliArguments('auth', ['db', 'execute', '--stdin', '--url=postgresql://x/y'])).toEqual(['db', 'execute', '--stdin', '--url=postgresql://x/y']);
    });

    it('is still needed: without a target the CLI refuses, though the config gives it a connection', async () => {
      const cli = prismaCli(['db', 'execute', '--file', script], { ...offlineCliEnvironment('auth'), DATABASE_URL: url });
      expect(await cli.exited).not.toBe(0);
      expect(cli.output()).toContain('Either --url or --schema must be provided');
    });
  });
});

/**
 * The pairing every service runs, and the CLI migrates with: Prisma 6.19's client and CLI (the last line
 * with the WebAssembly schema engine, ADR 0001) through adapter-pg 7.x (6.19's own adapter breaks the
 * schema engine on multi-schema databases), two major lines that Prisma does not test together.
 * Checked together: the shared-db suite (migrate twice, the drift check through a shadow database, the
 * workarounds above) and the end-to-end suite passed with exactly these. An upgrade of any of them fails
 * the first test until someone has run those suites with the new versions and updated this list.
 */
const CHECKED_PAIRING: Record<string, string> = {
  prisma: '6.19.3',
  '@prisma/client': '6.19.3',
  '@prisma/adapter-pg': '7.10.1',
  '@prisma/driver-adapter-utils': '7.10.1',
};

describe('the Prisma 6.19 client with the 7.x adapter-pg', () => {
  it('is the pairing that was checked: pinned by shared-db, held by the lockfile, installed', () => {
    const manifest = JSON.parse(readFileSync(path.join(SHARED_DB_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const lock = JSON.parse(readFileSync(path.join(REPOSITORY_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
    const installed = (name: string) =>
      (JSON.parse(readFileSync(path.join(REPOSITORY_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
    const found = Object.fromEntries(
      Object.keys(CHECKED_PAIRING).map((name) => [
        name,
        { pinned: manifest.dependencies[name], locked: lock.packages[`node_modules/${name}`]?.version, installed: installed(name) },
      ]),
    );
    const expected = Object.fromEntries(
      Object.entries(CHECKED_PAIRING).map(([name, version]) => [name, { pinned: version, locked: version, installed: version }]),
    );
    expect(found).toEqual(expected);
    // No copy of another version nested anywhere in the tree, which a package could load instead.
    const copies = Object.entries(lock.packages).filter(([where]) => Object.keys(CHECKED_PAIRING).some((name) => where.endsWith(`node_modules/${name}`)));
    expect(copies.map(([where]) => where).sort()).toEqual(
      Object.keys(CHECKED_PAIRING)
        .map((name) => `node_modules/${name}`)
        .sort(),
    );
  });

  it("reads, writes and rolls back through a service's client on the run's database", async () => {
    const profile = createServiceClient('profile', { poolSize: 2 });
    try {
      const [role] = await profile.$queryRaw<{ current_user: string }[]>`SELECT current_user`;
      expect(role?.current_user).toBe('profile_svc');
      expect(await profile.profile.count()).toBeGreaterThan(0);
      const someone = await profile.profile.findFirst({
        where: { displayName: { not: null } },
        select: { userId: true, displayName: true },
        orderBy: { userId: 'asc' },
      });
      expect(someone).toEqual({ userId: expect.any(String), displayName: expect.any(String) });
      const where = { userId: someone?.userId ?? '' };
      // An interactive transaction through the adapter: a write seen inside it, gone once it rolls back.
      const rolledBack = new Error('roll back');
      await expect(
        profile.$transaction(async (tx) => {
          await tx.profile.update({ where, data: { displayName: 'pairing check' } });
          expect((await tx.profile.findUnique({ where }))?.displayName).toBe('pairing check');
          throw rolledBack;
        }),
      ).rejects.toBe(rolledBack);
      expect((await profile.profile.findUnique({ where }))?.displayName).not.toBe('pairing check');
    } finally {
      await profile.$disconnect();
    }
  });
});
