import { DEMO_ADMIN, DEMO_USER_PASSWORD, prepareDatabase, provisionServer, runMain, seedDemoData } from '@fedstack/shared-db';

/**
 * `npm start`: the database (embedded unless DATABASE_URL is set), roles, migrations, grants and demo
 * data, then every service as its own process. Ctrl-C stops everything it started.
 */
async function main(): Promise<void> {
  const server = await provisionServer({ onLog: () => undefined });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await server.stop();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  await prepareDatabase(server.ownerUrl, { quiet: true });
  const seeded = await seedDemoData(server.ownerUrl);
  const where = server.embedded ? 'embedded PostgreSQL' : 'DATABASE_URL';
  console.log(`Database ready (${where}): migrated, grants applied, demo data ${seeded.usersCreated ? 'loaded' : 'present'}.`);
  console.log(`Demo admin: ${DEMO_ADMIN.email} / ${DEMO_ADMIN.password}; users alice@example.com … erin@example.com / ${DEMO_USER_PASSWORD}`);
  console.log('No GraphQL services exist yet; the database keeps running until Ctrl-C.');
  await new Promise<never>(() => undefined);
}

runMain(main);
