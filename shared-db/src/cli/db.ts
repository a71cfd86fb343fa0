// `npm run db:*`: migrate, seed, Prisma's CLI and db:split, on the databases the settings place.
import { SERVICES, runMain } from '@fedstack/runtime';
import { databaseIdentity, ownerUrlFor, serviceUrlVariable } from '../config';
import { moveService } from '../move';
import { runPrismaCli } from '../prisma-cli';
import { provisionServer } from '../provision';
import { prepareDatabases } from '../setup';
import { DEMO_ADMIN, seedDemoData } from '../seed';
import { USAGE, assertNoOptionsTakenByNpm, parseDbCommand, type DbCommand } from './arguments';

async function split({ service, to, from }: Extract<DbCommand, { command: 'split' }>, env: NodeJS.ProcessEnv): Promise<void> {
  const report = await moveService({
    service,
    fromUrl: from ?? ownerUrlFor(service, env),
    toUrl: to,
    env,
    onProgress: (line) => console.log(line),
  });
  const rows = report.tables.reduce((sum, table) => sum + table.rows, 0);
  const moved = `Moved ${service}: ${report.tables.length} tables, ${rows} rows, every count and checksum verified.`;
  // Back into DATABASE_URL's database (the way back): the setting that placed it elsewhere goes.
  if (env.DATABASE_URL && databaseIdentity(env.DATABASE_URL) === databaseIdentity(to)) {
    console.log(`
${moved}
${service} is back in DATABASE_URL's database: unset ${serviceUrlVariable(service)}, then start it again. The copy it
left stays as schema ${report.retiredSchema} in the database it came from; drop it once ${service} runs here.`);
    return;
  }
  console.log(`
${moved}
Switch ${service} to its new database, then start it again:

  ${report.settings.variable}=${report.settings.forService}     # for the ${service} service's processes (compose, Kubernetes)
  ${report.settings.variable}=${report.settings.forMigrations}  # for npm start and npm run db:migrate, which migrate it as the owner

The old copy stays in the source as schema ${report.retiredSchema}; drop it once ${service} runs from its new
database (DROP SCHEMA "${report.retiredSchema}" CASCADE). To move back, run db:split again with --from the
new database and --to the old one, and unset ${serviceUrlVariable(service)}.`);
}

async function main(): Promise<void> {
  assertNoOptionsTakenByNpm(process.env);
  const parsed = parseDbCommand(process.argv.slice(2));
  if (!parsed) {
    console.error(USAGE);
    process.exitCode = 2;
    return;
  }
  const named = parsed.command === 'seed' ? undefined : parsed.service;
  // Moving from a database named outright needs no database from the settings, but the embedded server if it is there.
  const from = parsed.command === 'split' ? parsed.from : undefined;
  const server = await provisionServer({
    ...(from ? { services: [] } : named ? { services: [named] } : {}),
    urls: parsed.command === 'split' ? [parsed.from, parsed.to] : [],
  });
  try {
    const env = server.env;
    switch (parsed.command) {
      case 'split':
        return await split(parsed, env);
      case 'prisma':
        for (const service of named ? [named] : SERVICES) {
          if (!named) console.log(`--- ${service}`);
          const { code } = await runPrismaCli(service, parsed.prismaArgs, { ownerUrl: ownerUrlFor(service, env) });
          if (code !== 0) process.exitCode = code;
        }
        return;
      case 'migrate':
      case 'seed': {
        await prepareDatabases(env, { quiet: parsed.command === 'seed', ...(named ? { services: [named] } : {}) });
        if (parsed.command === 'migrate') return;
        const report = await seedDemoData(env);
        console.log(
          report.usersCreated + report.paymentsCreated === 0
            ? 'Demo data already present; nothing changed.'
            : `Seeded ${report.usersCreated} users and ${report.paymentsCreated} payments (admin: ${DEMO_ADMIN.email}).`,
        );
      }
    }
  } finally {
    await server.stop();
  }
}

runMain(async () => {
  await main();
  if (process.exitCode) process.exit(process.exitCode);
});
