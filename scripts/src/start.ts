// `npm start`: the database (embedded unless DATABASE_URL is set) with roles, migrations, grants and
// demo data, then every service as its own process. Success is printed only once each one's /readyz
// answers and a query through the gateway reaches every subgraph. A process that dies afterwards is
// started again (supervisor.ts). Every process runs in a session of its own, so that Ctrl-C reaches
// this one alone, which stops the gateway, then the subgraphs, then the database, and says so.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPOSITORY_ROOT, readSettings, runMain, serverUrl } from '@fedstack/runtime';
import { DEMO_ADMIN, DEMO_USER_PASSWORD, describeLayout, prepareDatabases, provisionServer, seedDemoData, type SupervisedServer } from '@fedstack/shared-db';
import { firstQuery, launcherManifest } from './first-query';
import {
  LAUNCHER_SETTINGS,
  assertPortsFree,
  httpStatus,
  planStack,
  routing,
  startProcess,
  stopProcess,
  waitUntilReady,
  type PlannedProcess,
} from './processes';
import { Supervisor, whenOrphaned, type Running, type Supervised } from './supervisor';

/** What stops the stack: Ctrl-C, an orchestrator's stop, the terminal closing. */
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

async function main(): Promise<void> {
  const { HOST, LOG_LEVEL, DB_REPLICAS } = readSettings(process.env, LAUNCHER_SETTINGS);
  const processes = planStack();
  await assertPortsFree(processes, HOST);
  // A signal while the embedded PostgreSQL starts (initdb, its first start, a replica) is kept until it has,
  // then stops it: Node's default action ended the launcher and left the server, detached, running.
  let signalled = false;
  const early = () => void (signalled = true);
  for (const signal of SIGNALS) process.on(signal, early);
  const database = await provisionServer({ detached: true, replicas: DB_REPLICAS });
  for (const signal of SIGNALS) process.off(signal, early);
  let env: NodeJS.ProcessEnv = {};
  const services = processes.map((target): Supervised => {
    const health = serverUrl(HOST, target.port, '/healthz');
    return {
      name: target.name,
      start: () => {
        const child = startProcess(target, env, undefined, undefined, true);
        const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ? `signal ${signal}` : `exit code ${code}`)));
        const liveness = { check: async () => (await httpStatus(health, 3000)) === 200, kill: () => void child.kill('SIGKILL') };
        return { ready: waitUntilReady(target, HOST, child), exited, stop: () => stopProcess(child), liveness };
      },
    };
  });
  const embedded = supervisedServer('the embedded PostgreSQL', database);
  const replica = database.replica && {
    ...supervisedServer("the embedded PostgreSQL's replica", database.replica),
    without: 'the services read from the primary until the next npm start',
  };
  const gateway = services.filter((unit) => unit.name === 'gateway');
  const subgraphs = services.filter((unit) => unit.name !== 'gateway');
  const started: Supervised[] = [];

  const supervisor = new Supervisor({ info: (line) => console.log(line), error: (line) => console.error(line) }, (reason) => {
    console.error(`error: ${reason}; stopping everything`);
    void stopAll(1);
  });
  let stopping: Promise<void> | undefined;
  function stopAll(code: number): Promise<void> {
    stopping ??= (async () => {
      await supervisor.stop([gateway, subgraphs, replica ? [replica] : [], database.embedded ? [embedded] : []]);
      const stopped = [...gateway, ...subgraphs].filter((unit) => started.includes(unit)).map((unit) => unit.name);
      // In the order they were stopped: the replica before its primary.
      const servers = [
        ...(replica && database.replica ? [{ unit: replica, server: database.replica }] : []),
        ...(database.embedded ? [{ unit: embedded, server: database }] : []),
      ];
      stopped.push(...servers.filter(({ server }) => server.adoptedPid === undefined).map(({ unit }) => unit.name));
      console.log(`Stopped: ${listed(stopped)}.`);
      for (const { unit, server } of servers) {
        if (server.adoptedPid !== undefined)
          console.log(`Left running: ${unit.name} (pid ${server.adoptedPid}), which this run found running and did not start.`);
      }
      process.exit(code);
    })();
    return stopping;
  }
  for (const signal of SIGNALS) process.on(signal, () => void stopAll(0));
  // Run by npm (`npm start`), the launcher goes when npm's script shell does: a signal to npm reaches no further.
  if (process.env.npm_lifecycle_event) {
    whenOrphaned(() => {
      console.error('npm start was stopped (the shell npm ran it in is gone): stopping everything');
      void stopAll(0);
    });
  }
  if (database.embedded) supervisor.watch(embedded, { ready: Promise.resolve(), exited: database.exited(), stop: () => database.stop() });
  if (replica && database.replica) {
    const server = database.replica;
    supervisor.watch(replica, { ready: Promise.resolve(), exited: server.exited(), stop: () => server.stop() });
  }
  if (signalled) await stopAll(0);
  if (database.adoptedPid !== undefined) {
    console.log(
      `Using the embedded PostgreSQL already running from its data directory (pid ${database.adoptedPid}): this run did not start it, and leaves it running.`,
    );
  }

  try {
    await prepareDatabases(database.env, { quiet: true });
    const seeded = await seedDemoData(database.env);
    const layout = describeLayout(database.env);
    const where = database.embedded ? `embedded PostgreSQL${database.replica ? ' and a streaming replica' : ''}` : 'your server';
    console.log(`Databases ready (${where}, ${layout}): migrated, grants applied, demo data ${seeded.usersCreated ? 'loaded' : 'present'}.`);
    env = { ...database.env, ...routing(processes, HOST, database.env), HOST, LOG_LEVEL, ...withLauncherManifest(process.env) };
    const running: Running[] = [];
    for (const unit of services) {
      // A signal while the databases were prepared: everything started so far is being stopped (awaited: the
      // launcher ends with its stop, which exits; returning ended it with the stop half-way).
      if (stopping) return stopping;
      const child = unit.start();
      running.push(child);
      started.push(unit);
      supervisor.watch(unit, child);
    }
    await Promise.all(running.map((child) => child.ready));
    await firstQuery(serverUrl(HOST, gatewayOf(processes).port, '/graphql'), DEMO_ADMIN);
  } catch (error) {
    // Once stopping, what fails is what the stop took away (the database under its migrations, a service
    // not yet ready), not news; the stop goes on to its end, which exits.
    if (stopping) return stopping;
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    await stopAll(1);
    return;
  }
  supervisor.supervise();

  const gatewayProcess = gatewayOf(processes);
  console.log('');
  console.log(`GraphQL API (gateway): ${serverUrl(HOST, gatewayProcess.port, '/graphql')}  (open it in a browser for Apollo Sandbox)`);
  // Sandbox loads from Apollo's site; offline it says only that it cannot.
  console.log(`  without internet: ${serverUrl(HOST, gatewayProcess.port, '/explorer/')}  (an explorer served by the gateway itself)`);
  for (const { name, port } of processes.filter((target) => target !== gatewayProcess)) {
    console.log(`  ${name} subgraph: ${serverUrl(HOST, port, '/graphql')}`);
  }
  if (database.embedded) {
    console.log(`  database (embedded PostgreSQL, owner): ${database.env.DATABASE_URL}  (npm run db:* commands reach it while this runs)`);
  }
  if (database.replica) console.log(`  its streaming replica (read-only, owner): ${database.env.DATABASE_REPLICA_URL}`);
  const metrics = [...processes]
    .sort((a, b) => (a.metricsPort ?? 0) - (b.metricsPort ?? 0))
    .flatMap(({ name, metricsPort }) => (metricsPort ? [`${name} ${serverUrl(HOST, metricsPort, '/metrics')}`] : []));
  if (metrics.length > 0) console.log(`  metrics (METRICS_PORT): ${metrics.join(', ')}`);
  console.log('');
  console.log(`Demo admin: ${DEMO_ADMIN.email} / ${DEMO_ADMIN.password}`);
  console.log(`Demo users: alice@example.com, bob@example.com, carol@example.com, dave@example.com, erin@example.com / ${DEMO_USER_PASSWORD}`);
  console.log('Everything is ready. Ctrl-C stops it all.');
  await new Promise<never>(() => undefined);
}

/** A server the launcher started (the embedded PostgreSQL, its replica), as the supervisor restarts it. */
function supervisedServer(name: string, server: SupervisedServer): Supervised {
  return {
    name,
    start: () => {
      const ready = server.restart();
      return {
        ready,
        exited: ready.then(
          () => server.exited(),
          (error: Error) => error.message,
        ),
        stop: () => server.stop(),
      };
    },
  };
}

function gatewayOf(processes: PlannedProcess[]): PlannedProcess {
  return processes.find((target) => target.name === 'gateway') as PlannedProcess;
}

/**
 * With manifests given (PERSISTED_DOCUMENTS_FILE), the launcher's own check is listed beside them, in a
 * git-ignored file, so that it passes whatever PERSISTED_DOCUMENTS says.
 */
function withLauncherManifest(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const given = env.PERSISTED_DOCUMENTS_FILE?.trim();
  if (!given) return {};
  const file = path.join(REPOSITORY_ROOT, '.data', 'launcher-persisted-query-manifest.json');
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, launcherManifest());
  return { PERSISTED_DOCUMENTS_FILE: `${given},${file}` };
}

/** `a, b and c`. */
function listed(names: string[]): string {
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names.at(-1)}` : (names[0] ?? 'nothing');
}

runMain(main);
