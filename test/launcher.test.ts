import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { STACK, SERVICES, freePort, pollUntil, portIsFree, portVariable, type StackProcessName } from '@fedstack/runtime';
import { httpStatus } from '@fedstack/scripts';
import { holdEmbeddedServer, queryAt } from '@fedstack/shared-db/testing';
import { graphql } from '@fedstack/service-kit/testing';
import { demoAdmin, within } from './clients';
import { childrenOf, descendantsOf, launch, launchSettings, type Launch } from './launch';

// `npm start` as a user runs it; what a healthy start looks like is in readme.test.ts.

describe('npm start', () => {
  const settings = launchSettings();
  let run: Launch | undefined;
  afterAll(async () => {
    // Still running only if the test failed or timed out: it leaves nothing running.
    if (run?.child.exitCode === null) {
      run.child.kill('SIGINT');
      await run.exited;
    }
    await settings.drop();
  });

  it('does not say it is ready when the gateway cannot reach a subgraph, and says which', async () => {
    const env = await settings.next();
    // An explicit routing URL wins over the port the launcher started payments on: here, a closed one.
    run = launch({ ...env, PAYMENTS_SUBGRAPH_URL: `http://127.0.0.1:${await freePort()}/graphql` });
    expect(await run.exited).toBe(1);
    expect(run.output()).not.toContain('Everything is ready');
    expect(run.output()).toMatch(/error: the first query through the gateway, which every subgraph answers part of, failed: .*\(payments\)/);
  }, 180_000);

  it('stops every service it started when Ctrl-C comes while they start, and says so, rather than leave them running', async () => {
    const env = { ...(await settings.next()), LOG_LEVEL: 'info' };
    const starting = launch(env, { detached: true });
    let children: number[] = [];
    try {
      // One service up; the others, the gateway and the first query through it still to come.
      await pollUntil('a service listening', async () => /"msg":"\w+ listening"/.test(starting.output()) || undefined, { timeoutMs: 120_000, intervalMs: 10 });
      children = childrenOf(starting.child.pid as number).map(({ pid }) => pid);
      starting.interrupt();
      // The launcher ended once its start gave up, while its stop still waited on the gateway: the subgraphs ran on, nobody's.
      expect({ code: await starting.exited, output: starting.output() }).toEqual({ code: 0, output: expect.stringMatching(/^Stopped: .*admin\.$/m) });
      const alive = children.filter((pid) => {
        try {
          process.kill(pid, 0);
          return true;
        } catch {
          return false;
        }
      });
      expect(alive).toEqual([]);
    } finally {
      for (const pid of children) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone, as it should be.
        }
      }
    }
  });

  it('stops the embedded PostgreSQL it was starting when Ctrl-C comes first, rather than leave it running', async () => {
    // Straight under the temporary folder, which the server's user can reach.
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'fedstack-launcher-early-'));
    const lockFile = path.join(dataDir, 'postmaster.pid');
    const env: NodeJS.ProcessEnv = { EMBEDDED_PG_DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(await freePort()), LOG_LEVEL: 'warn' };
    for (const { name } of STACK) env[portVariable(name)] = String(await freePort());
    const early = launch(env, { detached: true });
    try {
      // While initdb runs a backend of its own (bootstrap, then single-user: the first writes the lock file
      // too), the first moment a terminal's Ctrl-C reached and killed (initdb failed, and the launcher with it).
      await pollUntil(
        'initdb running a backend of the embedded PostgreSQL',
        async () => {
          if (early.child.exitCode !== null) throw new Error(`the launcher exited first:\n${early.output()}`);
          return descendantsOf(early.child.pid as number).some(({ command }) => / --(boot|single)\b/.test(command)) || undefined;
        },
        { timeoutMs: 60_000, intervalMs: 2 },
      );
      early.interrupt();
      // With its output, for a failure to say why (once, under load, it exited 1).
      expect({ code: await early.exited, output: early.output() }).toEqual({ code: 0, output: expect.stringContaining('Stopped: the embedded PostgreSQL.') });
      // Stopped, it removes its lock file; left running (the launcher killed by the signal), it held the data directory.
      expect(existsSync(lockFile)).toBe(false);
    } finally {
      if (existsSync(lockFile)) process.kill(Number(readFileSync(lockFile, 'utf8').split('\n')[0]), 'SIGINT');
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);

  it('leaves running, and says so, an embedded PostgreSQL it found running; Ctrl-C while it prepares the databases starts nothing more and blames nothing', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'fedstack-launcher-adopted-'));
    const env: NodeJS.ProcessEnv = { EMBEDDED_PG_DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(await freePort()), LOG_LEVEL: 'warn' };
    for (const { name } of STACK) env[portVariable(name)] = String(await freePort());
    // Another command's server on the same data (as `npm run db:*` or an earlier, killed run leaves one).
    const holder = holdEmbeddedServer(env);
    try {
      const pid = await holder.up;
      const adopting = launch(env, { detached: true });
      await adopting.until(`Using the embedded PostgreSQL already running from its data directory (pid ${pid})`, 60_000);
      adopting.interrupt();
      expect(await adopting.exited).toBe(0);
      const output = adopting.output();
      // It claimed to have stopped the server, which ran on; and, stopped under its migrations, blamed DATABASE_URL.
      expect(output).toContain(`Left running: the embedded PostgreSQL (pid ${pid}), which this run found running and did not start.`);
      expect(output).not.toMatch(/Stopped: .*embedded PostgreSQL|error:/);
      expect(output).not.toContain('Everything is ready');
      for (const { name } of STACK) expect({ name, free: await portIsFree(Number(env[portVariable(name)])) }).toEqual({ name, free: true });
      expect(await queryAt(`postgresql://postgres:postgres_local_only@127.0.0.1:${env.EMBEDDED_PG_PORT}/postgres`, 'SELECT 1 AS up')).toEqual([{ up: 1 }]);
    } finally {
      await holder.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});

/**
 * `npm start` on its own embedded PostgreSQL, as on a fresh machine, in a process group of its own as a
 * shell runs a foreground job: a process that dies is started again, the database included, and Ctrl-C
 * (SIGINT to the whole group) stops the services, then the database, and says so in one line.
 */
describe('npm start, when a process dies and when Ctrl-C stops it', () => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let run: Launch;
  const pid = () => run.child.pid as number;
  const ready = (name: StackProcessName) => httpStatus(`http://127.0.0.1:${env[portVariable(name)]}/readyz`, 5000).catch(() => 0);

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'fedstack-launcher-'));
    env = { EMBEDDED_PG_DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(await freePort()), LOG_LEVEL: 'info' };
    for (const { name } of STACK) env[portVariable(name)] = String(await freePort());
    run = launch(env, { detached: true });
    await run.until('Everything is ready.', 240_000);
  }, 300_000);

  afterAll(async () => {
    if (run.child.exitCode === null) {
      run.child.kill('SIGTERM');
      await run.exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  it("runs each process with its Node options (the subgraphs' young-generation size), which bound its memory", () => {
    for (const { entry, nodeOptions } of STACK) {
      const child = childrenOf(pid()).find(({ command }) => command.includes(entry));
      expect({ entry, command: child?.command.trim().split(' ').slice(1) }).toEqual({ entry, command: [...nodeOptions, expect.stringContaining(entry)] });
    }
    expect(STACK.find(({ name }) => name === 'auth')?.nodeOptions).toEqual(['--max-old-space-size=128', '--max-semi-space-size=4']);
  });

  it("gives each process Node's compile cache, in the launcher's temporary folder", () => {
    for (const { entry } of STACK) {
      const child = childrenOf(pid()).find(({ command }) => command.includes(entry));
      const environment = readFileSync(`/proc/${child?.pid}/environ`, 'utf8').split('\0');
      // The launcher is given no TMPDIR (launch() passes PATH and the test's settings only).
      expect({ entry, cache: environment.filter((variable) => variable.startsWith('NODE_COMPILE_CACHE=')) }).toEqual({
        entry,
        cache: ['NODE_COMPILE_CACHE=/tmp/fedstack-compile-cache'],
      });
    }
  });

  it('starts a service killed with kill -9 again, saying why, and the stack answers as before', async () => {
    const payments = childrenOf(pid()).find(({ command }) => command.includes('subgraphs/payments/dist/main.js'));
    process.kill(payments?.pid as number, 'SIGKILL');
    await run.until('payments stopped unexpectedly (signal SIGKILL); restarting it in 1 s (restart 1 of 5 allowed within 10 minutes)', 30_000);
    await run.until('payments restarted and ready.', 60_000);
    expect(childrenOf(pid()).find(({ command }) => command.includes('subgraphs/payments/dist/main.js'))?.pid).not.toBe(payments?.pid);
    const gateway = `http://127.0.0.1:${env.GATEWAY_PORT}/graphql`;
    const answer = await graphql(gateway, '{ me { email paymentTotals { currency } } }', { token: (await demoAdmin(gateway)).accessToken });
    expect(answer.errors).toBeUndefined();
  }, 120_000);

  it('starts its embedded PostgreSQL killed with kill -9 again, and every service is ready again without having stopped', async () => {
    const from = run.output().length;
    const postmaster = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    process.kill(postmaster, 'SIGKILL');
    await run.until('the embedded PostgreSQL stopped unexpectedly (signal SIGKILL); restarting it in 1 s', 30_000);
    await run.until('the embedded PostgreSQL restarted and ready.', 90_000);
    for (const service of SERVICES) await within(30_000, async () => (await ready(service)) === 200);
    expect(run.output().slice(from)).not.toMatch(/(gateway|auth|profile|payments|admin) stopped unexpectedly/);
  }, 150_000);

  it('on Ctrl-C stops the services, then the database, with no database error on the way out, and says so in one line', async () => {
    const owner = /database \(embedded PostgreSQL, owner\): (\S+)/.exec(run.output())?.[1] as string;
    const database = new pg.Client(owner);
    await database.connect();
    const databaseStoppedAt = new Promise<number>((resolve) => {
      database.on('error', () => resolve(Date.now()));
      database.on('end', () => resolve(Date.now()));
    });
    const from = run.output().length;
    // What a terminal does on Ctrl-C: SIGINT to every process of the foreground group.
    process.kill(-pid(), 'SIGINT');
    expect(await run.exited).toBe(0);
    const lines = run
      .output()
      .slice(from)
      .split('\n')
      .filter((line) => line.trim());
    const logs = lines.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { level: string; msg: string; service: string; time: string });
    expect(logs.filter(({ level }) => level !== 'info' && level !== 'debug')).toEqual([]);
    const stopped = logs.filter(({ msg }) => msg === 'stopped');
    expect(stopped.map(({ service }) => service).sort()).toEqual(['admin', 'auth', 'gateway', 'payments', 'profile']);
    expect(await databaseStoppedAt).toBeGreaterThanOrEqual(Math.max(...stopped.map(({ time }) => Date.parse(time))));
    expect(lines.filter((line) => !line.startsWith('{'))).toEqual(['Stopped: gateway, auth, profile, payments, admin and the embedded PostgreSQL.']);
  }, 120_000);
});
