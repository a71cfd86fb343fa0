import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '@fedstack/runtime';
import { holdEmbeddedServer, queryAt } from './testing';

// The embedded server is an ES module Jest cannot load, so these run the built commands as a user does.

const DIST = path.resolve(__dirname, '..', 'dist');

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(DIST, 'cli', 'db.js'), ...args], { env: { PATH: process.env.PATH, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the embedded PostgreSQL', () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'fedstack-embedded-'));
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('is reached, not started again, by a command run while the stack holds it', async () => {
    const port = await freePort();
    const env = { EMBEDDED_PG_DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(port) };
    // The stack's part: a process that keeps the embedded server running until told to stop.
    const holder = holdEmbeddedServer(env);
    try {
      await holder.up;
      const migrated = await run(['migrate', '--service', 'auth'], env);
      expect({ code: migrated.code, stderr: migrated.stderr }).toEqual({ code: 0, stderr: expect.not.stringContaining('Error') });
      const status = await run(['prisma', '--service', 'auth', 'migrate', 'status'], env);
      expect(status.code).toBe(0);
      expect(status.stdout).toContain('Database schema is up to date!');
      // Asked for another port (a start with another EMBEDDED_PG_PORT after a kill -9): which one it runs on, in one line.
      const elsewhere = await freePort();
      const other = await run(['migrate', '--service', 'auth'], { ...env, EMBEDDED_PG_PORT: String(elsewhere) });
      expect({ code: other.code, said: other.stderr.trim().split('\n') }).toEqual({
        code: 1,
        said: [
          `error: EMBEDDED_PG_PORT: the embedded PostgreSQL runs already from ${dataDir} (pid ${await holder.up}) on port ${port}, not ${elsewhere}: ` +
            `start with EMBEDDED_PG_PORT=${port}, or stop it first`,
        ],
      });
      // The holder's server outlived both commands.
      expect(await queryAt(`postgresql://postgres:postgres_local_only@127.0.0.1:${port}/postgres`, 'SELECT 1 AS up')).toEqual([{ up: 1 }]);
    } finally {
      await holder.stop();
    }
  });

  it("starts for a command whose service has a database of its own on the embedded server's port, and stops after (nothing listened there)", async () => {
    const port = await freePort();
    const own = `postgresql://postgres:postgres_local_only@127.0.0.1:${port}/own_payments`;
    const env = { EMBEDDED_PG_DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(port), PAYMENTS_DATABASE_URL: own };
    const migrated = await run(['migrate', '--service', 'payments'], env);
    expect({ code: migrated.code, stderr: migrated.stderr }).toEqual({ code: 0, stderr: '' });
    const status = await run(['prisma', '--service', 'payments', 'migrate', 'status'], env);
    expect({ code: status.code, upToDate: status.stdout.includes('Database schema is up to date!') }).toEqual({ code: 0, upToDate: true });
    await expect(queryAt(own, 'SELECT 1')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('starts when its lock file is left from a killed server whose process id another program now has (it was taken for a running server)', async () => {
    const port = await freePort();
    // Its process id is this worker's (node), in the data directory the test above made (or none: a first start).
    writeFileSync(path.join(dataDir, 'postmaster.pid'), `${process.pid}\n${dataDir}\n1700000000\n${port}\n\n127.0.0.1\n`);
    const migrated = await run(['migrate', '--service', 'auth'], { EMBEDDED_PG_DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(port) });
    expect({ code: migrated.code, stderr: migrated.stderr }).toEqual({ code: 0, stderr: '' });
  });

  it('says in one line what to do when something else holds its port', async () => {
    const blocker: Server = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    try {
      const result = await run(['prisma', '--service', 'auth', 'migrate', 'status'], {
        EMBEDDED_PG_DATA_DIR: path.join(dataDir, 'other'),
        EMBEDDED_PG_PORT: String(port),
      });
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n')).toEqual([
        `error: EMBEDDED_PG_PORT: the embedded PostgreSQL cannot listen on 127.0.0.1:${port}, which something else holds (set EMBEDDED_PG_PORT to a free port, or DATABASE_URL to use a running server)`,
      ]);
    } finally {
      blocker.close();
    }
  });
});
