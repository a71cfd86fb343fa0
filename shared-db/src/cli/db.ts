import { provisionServer } from '../provision';
import { prepareDatabase, runPrismaCli } from '../setup';
import { DEMO_ADMIN, seedDemoData } from '../seed';
import { runMain } from './main';

const USAGE = `usage: db <command>
  migrate        create the service roles, apply pending migrations, apply the grants matrix
  seed           migrate, then load the demo accounts (idempotent)
  prisma ARGS    run Prisma's CLI offline against the database (e.g. prisma migrate status)

Without DATABASE_URL the embedded PostgreSQL under .data/postgres is started for the command.`;

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (!command || !['migrate', 'seed', 'prisma'].includes(command)) {
    console.error(USAGE);
    process.exitCode = 2;
    return;
  }
  const server = await provisionServer();
  try {
    if (command === 'prisma') {
      const { code } = await runPrismaCli(rest, { ownerUrl: server.ownerUrl });
      process.exitCode = code;
      return;
    }
    await prepareDatabase(server.ownerUrl, { quiet: command === 'seed' });
    if (command === 'seed') {
      const report = await seedDemoData(server.ownerUrl);
      console.log(
        report.usersCreated + report.paymentsCreated === 0
          ? 'Demo data already present; nothing changed.'
          : `Seeded ${report.usersCreated} users and ${report.paymentsCreated} payments (admin: ${DEMO_ADMIN.email}).`,
      );
    }
  } finally {
    await server.stop();
  }
}

runMain(async () => {
  await main();
  if (process.exitCode) process.exit(process.exitCode);
});
