// What `npm run db:*` was asked to do: its command line, read once by node:util's parseArgs.
import { parseArgs } from 'node:util';
import { ConfigError, SERVICES, commandLine, isService, type Service } from '@fedstack/runtime';

export const USAGE = `usage: db <command>
  migrate [--service NAME]         create the service roles, apply pending migrations, apply the grants matrix
                                   (every service, or the one named)
  seed                             migrate, then load the demo accounts (idempotent)
  prisma [--service NAME] ARGS     run Prisma's CLI offline on a service's schema (every service in turn if none is named)
  split --service NAME --to URL [--from URL]
                                   move a service's schema, data, role and grants into a database of its own

Options take their value as --service NAME or --service=NAME.
Databases are placed by DATABASE_URL, DB_LAYOUT and <SERVICE>_DATABASE_URL (README, "Two layouts").
Without any of them the embedded PostgreSQL under .data/postgres is started for the command.`;

export type DbCommand =
  | { command: 'migrate'; service?: Service }
  | { command: 'seed' }
  | { command: 'prisma'; service?: Service; prismaArgs: string[] }
  | { command: 'split'; service: Service; to: string; from?: string };

function serviceOption(value: string | undefined): Service | undefined {
  if (value === undefined) return undefined;
  if (!isService(value)) throw new ConfigError(`--service must be one of ${SERVICES.join(', ')} (got "${value}")`);
  return value;
}

/** parseArgs for `db <command>`, its errors as one line naming the command. */
const parse = <T>(command: string, read: () => T): T => commandLine(`db ${command}`, read);

/**
 * `db prisma [--service NAME] ARGS…`: the service option is ours, everything else is Prisma's and passes
 * through in order, whatever options Prisma itself takes.
 */
function prismaCommand(args: string[]): DbCommand {
  const { tokens } = parse('prisma', () => parseArgs({ args, options: { service: { type: 'string' } }, strict: false, allowPositionals: true, tokens: true }));
  const ours = tokens.filter((token) => token.kind === 'option' && token.name === 'service');
  const taken = new Set(ours.flatMap((token) => (token.kind === 'option' && token.inlineValue === false ? [token.index, token.index + 1] : [token.index])));
  const value = ours.at(-1);
  const service = value?.kind === 'option' ? value.value : undefined;
  if (value && typeof service !== 'string') throw new ConfigError('db prisma: --service needs a value (--service NAME)');
  return { command: 'prisma', ...(service ? { service: serviceOption(service) as Service } : {}), prismaArgs: args.filter((_, index) => !taken.has(index)) };
}

/** Reads `db <command> …`'s arguments, or fails with one line saying what is wrong; undefined when no command is given. */
export function parseDbCommand(argv: readonly string[]): DbCommand | undefined {
  const [command, ...args] = argv;
  switch (command) {
    case 'migrate': {
      const { values } = parse('migrate', () => parseArgs({ args, options: { service: { type: 'string' } } }));
      const service = serviceOption(values.service);
      return { command, ...(service ? { service } : {}) };
    }
    case 'seed':
      parse('seed', () => parseArgs({ args, options: {} }));
      return { command };
    case 'prisma':
      return prismaCommand(args);
    case 'split': {
      const { values } = parse('split', () => parseArgs({ args, options: { service: { type: 'string' }, to: { type: 'string' }, from: { type: 'string' } } }));
      const service = serviceOption(values.service);
      if (!service || !values.to) throw new ConfigError("db split needs --service NAME and --to URL (the owner's connection to the new database)");
      return { command, service, to: values.to, ...(values.from ? { from: values.from } : {}) };
    }
    default:
      return undefined;
  }
}
