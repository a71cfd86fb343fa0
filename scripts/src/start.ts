import type { ChildProcess } from 'node:child_process';
import { readSettings, runMain } from '@fedstack/runtime';
import { DEMO_ADMIN, DEMO_USER_PASSWORD, databaseLayout, prepareDatabases, provisionServer, seedDemoData } from '@fedstack/shared-db';
import { firstQuery } from './first-query';
import { LAUNCHER_SETTINGS, assertPortsFree, planStack, routing, startProcess, stopProcess, waitUntilReady, type PlannedProcess } from './processes';

/**
 * `npm start`: the database (embedded unless DATABASE_URL is set) with roles, migrations, grants and
 * demo data, then every service as its own process. Success is printed only once each one's /readyz
 * answers and a query through the gateway reaches every subgraph; Ctrl-C stops everything it started.
 */
async function main(): Promise<void> {
  const { HOST, LOG_LEVEL } = readSettings(process.env, LAUNCHER_SETTINGS);
  const processes = planStack();
  await assertPortsFree(processes, HOST);
  const database = await provisionServer();
  const children: ChildProcess[] = [];
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await Promise.all(children.map(stopProcess));
    await database.stop();
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  try {
    await prepareDatabases(database.env, { quiet: true });
    const seeded = await seedDemoData(database.env);
    const layout = databaseLayout(database.env) === 'split' ? 'a database per service' : 'one database, a schema per service';
    console.log(
      `Databases ready (${database.embedded ? 'embedded PostgreSQL' : 'your server'}, ${layout}): migrated, grants applied, demo data ${seeded.usersCreated ? 'loaded' : 'present'}.`,
    );
    const env = { ...database.env, ...routing(processes, HOST, database.env), HOST, LOG_LEVEL };
    for (const target of processes) {
      const child = startProcess(target, env);
      children.push(child);
      child.on('exit', (code, signal) => {
        if (stopping) return;
        console.error(`error: ${target.name} stopped unexpectedly (${signal ?? `exit code ${code}`}); stopping everything`);
        void stopAll(1);
      });
    }
    await Promise.all(processes.map((target, index) => waitUntilReady(target, HOST, children[index] as ChildProcess)));
    await firstQuery(`http://${HOST}:${gatewayOf(processes).port}/graphql`, DEMO_ADMIN);
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    await stopAll(1);
    return;
  }

  const gateway = gatewayOf(processes);
  console.log('');
  console.log(`GraphQL API (gateway): http://${HOST}:${gateway.port}/graphql  (open it in a browser for Apollo Sandbox)`);
  for (const { name, port } of processes.filter((target) => target !== gateway)) {
    console.log(`  ${name} subgraph: http://${HOST}:${port}/graphql`);
  }
  if (database.embedded) {
    console.log(`  database (embedded PostgreSQL, owner): ${database.env.DATABASE_URL}  (npm run db:* commands reach it while this runs)`);
  }
  console.log('');
  console.log(`Demo admin: ${DEMO_ADMIN.email} / ${DEMO_ADMIN.password}`);
  console.log(`Demo users: alice@example.com, bob@example.com, carol@example.com, dave@example.com, erin@example.com / ${DEMO_USER_PASSWORD}`);
  console.log('Everything is ready. Ctrl-C stops it all.');
  await new Promise<never>(() => undefined);
}

function gatewayOf(processes: PlannedProcess[]): PlannedProcess {
  return processes.find((target) => target.name === 'gateway') as PlannedProcess;
}

runMain(main);
