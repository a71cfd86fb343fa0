import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import {
  ConfigError,
  DEMO_ADMIN,
  DEMO_USER_PASSWORD,
  REPOSITORY_ROOT,
  positiveInteger,
  prepareDatabase,
  provisionServer,
  runMain,
  seedDemoData,
} from '@fedstack/shared-db';

/** The processes `npm start` runs, in start order, each with its default port and the variable that moves it. */
const PROCESSES = [
  { name: 'auth', entry: 'subgraphs/auth/dist/main.js', defaultPort: 4001 },
  { name: 'profile', entry: 'subgraphs/profile/dist/main.js', defaultPort: 4002 },
  { name: 'payments', entry: 'subgraphs/payments/dist/main.js', defaultPort: 4003 },
  { name: 'admin', entry: 'subgraphs/admin/dist/main.js', defaultPort: 4004 },
  { name: 'gateway', entry: 'gateway/dist/main.js', defaultPort: 4000 },
];

interface Planned {
  name: string;
  entry: string;
  port: number;
  portVariable: string;
}

const HOST = process.env.HOST ?? '127.0.0.1';

function plan(): Planned[] {
  return PROCESSES.map(({ name, entry, defaultPort }) => {
    const portVariable = `${name.toUpperCase()}_PORT`;
    return { name, entry, portVariable, port: positiveInteger(process.env, portVariable, defaultPort, 65535) };
  });
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, HOST, () => probe.close(() => resolve(true)));
  });
}

async function assertPortsFree(processes: Planned[]): Promise<void> {
  for (const { name, port, portVariable } of processes) {
    if (!(await portIsFree(port))) {
      throw new ConfigError(`port ${port} on ${HOST} is already in use, so ${name} cannot start (free it or set ${portVariable})`);
    }
  }
}

/** Polls /readyz until the process answers 200, it exits, or the time is up. */
async function waitUntilReady(target: Planned, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${target.name} exited with code ${child.exitCode} before it was ready`);
    try {
      const response = await fetch(`http://${HOST}:${target.port}/readyz`, { signal: AbortSignal.timeout(1000) });
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${target.name} was not ready on http://${HOST}:${target.port}/readyz within ${timeoutMs / 1000} s`);
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * `npm start`: the database (embedded unless DATABASE_URL is set) with roles, migrations, grants and
 * demo data, then every service as its own process. Success is printed only once each one's /readyz
 * answers; Ctrl-C stops everything it started.
 */
async function main(): Promise<void> {
  const processes = plan();
  await assertPortsFree(processes);
  const database = await provisionServer();
  const children: ChildProcess[] = [];
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await Promise.all(children.map(stopChild));
    await database.stop();
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  try {
    await prepareDatabase(database.ownerUrl, { quiet: true });
    const seeded = await seedDemoData(database.ownerUrl);
    console.log(
      `Database ready (${database.embedded ? 'embedded PostgreSQL' : 'DATABASE_URL'}): migrated, grants applied, demo data ${seeded.usersCreated ? 'loaded' : 'present'}.`,
    );
    const env = { ...process.env, DATABASE_URL: database.ownerUrl, HOST, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' };
    for (const target of processes) {
      const child = spawn(process.execPath, [path.join(REPOSITORY_ROOT, target.entry)], {
        env: { ...env, [target.portVariable]: String(target.port) },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      children.push(child);
      child.on('exit', (code, signal) => {
        if (stopping) return;
        console.error(`error: ${target.name} stopped unexpectedly (${signal ?? `exit code ${code}`}); stopping everything`);
        void stopAll(1);
      });
    }
    await Promise.all(processes.map((target, index) => waitUntilReady(target, children[index] as ChildProcess, 60_000)));
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    await stopAll(1);
    return;
  }

  const gateway = processes.find((target) => target.name === 'gateway') as Planned;
  console.log('');
  console.log(`GraphQL API (gateway): http://${HOST}:${gateway.port}/graphql  (open it in a browser for Apollo Sandbox)`);
  for (const { name, port } of processes.filter((target) => target !== gateway)) {
    console.log(`  ${name} subgraph: http://${HOST}:${port}/graphql`);
  }
  console.log('');
  console.log(`Demo admin: ${DEMO_ADMIN.email} / ${DEMO_ADMIN.password}`);
  console.log(`Demo users: alice@example.com, bob@example.com, carol@example.com, dave@example.com, erin@example.com / ${DEMO_USER_PASSWORD}`);
  console.log('Everything is ready. Ctrl-C stops it all.');
  await new Promise<never>(() => undefined);
}

runMain(main);
