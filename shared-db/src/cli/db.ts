import { parseArgs } from 'node:util';
import { ConfigError, SERVICES, isService, runMain, type Service } from '@fedstack/runtime';
import { ownerUrlFor, serviceUrlVariable } from '../config';
import { moveService } from '../move';
import { provisionServer } from '../provision';
import { runPrismaCli } from '../prisma-cli';
import { prepareDatabases } from '../setup';
import { DEMO_ADMIN, seedDemoData } from '../seed';

const USAGE = `usage: db <command>
  migrate [--service NAME]         create the service roles, apply pending migrations, apply the grants matrix
                                   (every service, or the one named)
  seed                             migrate, then load the demo accounts (idempotent)
  prisma [--service NAME] ARGS     run Prisma's CLI offline on a service's schema (every service in turn if none is named)
  split --service NAME --to URL [--from URL]
                                   move a service's schema, data, role and grants into a database of its own

Databases are placed by DATABASE_URL, DB_LAYOUT and <SERVICE>_DATABASE_URL (README, "Two layouts").
Without any of them the embedded PostgreSQL under .data/postgres is started for the command.`;

/** The value after `name` in the arguments, if any (checked properly by each command's own parsing). */
function optionValue(args: string[], name: string): string | undefined {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : undefined;
}

function serviceOption(value: string | undefined): Service | undefined {
  if (value === undefined) return undefined;
  if (!isService(value)) throw new ConfigError(`--service must be one of ${SERVICES.join(', ')} (got "${value}")`);
  return value;
}

async function split(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const { values } = parseArgs({ args, options: { service: { type: 'string' }, to: { type: 'string' }, from: { type: 'string' } } });
  const service = serviceOption(values.service);
  if (!service || !values.to) throw new ConfigError("db split needs --service NAME and --to URL (the owner's connection to the new database)");
  const report = await moveService({
    service,
    fromUrl: values.from ?? ownerUrlFor(service, env),
    toUrl: values.to,
    env,
    onProgress: (line) => console.log(line),
  });
  const rows = report.tables.reduce((sum, table) => sum + table.rows, 0);
  console.log(`
Moved ${service}: ${report.tables.length} tables, ${rows} rows, every count and checksum verified.
Switch ${service} to its new database, then start it again:

  ${report.settings.variable}=${report.settings.forService}     # for the ${service} service
  ${report.settings.variable}=${report.settings.forMigrations}  # for npm run db:migrate

The old copy stays in the source as schema ${report.retiredSchema}; drop it once ${service} runs from its new
database (DROP SCHEMA "${report.retiredSchema}" CASCADE). To move back, run db:split again with --from the
new database and --to the old one, and unset ${serviceUrlVariable(service)}.`);
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (!command || !['migrate', 'seed', 'prisma', 'split'].includes(command)) {
    console.error(USAGE);
    process.exitCode = 2;
    return;
  }
  const named = command === 'prisma' ? (rest[0] === '--service' ? serviceOption(rest[1]) : undefined) : serviceOption(optionValue(rest, '--service'));
  // Moving from a database named outright needs no database from the settings.
  if (command === 'split' && optionValue(rest, '--from')) return split(rest, process.env);
  const server = await provisionServer(named ? { services: [named] } : {});
  try {
    const env = server.env;
    if (command === 'split') return await split(rest, env);
    if (command === 'prisma') {
      const args = named ? rest.slice(2) : rest;
      for (const service of named ? [named] : SERVICES) {
        if (!named) console.log(`--- ${service}`);
        const { code } = await runPrismaCli(service, args, { ownerUrl: ownerUrlFor(service, env) });
        if (code !== 0) process.exitCode = code;
      }
      return;
    }
    parseArgs({ args: rest, options: command === 'migrate' ? { service: { type: 'string' } } : {} });
    await prepareDatabases(env, { quiet: command === 'seed', ...(named ? { services: [named] } : {}) });
    if (command === 'seed') {
      const report = await seedDemoData(env);
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
