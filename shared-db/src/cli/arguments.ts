// What `npm run db:*` was asked to do: its command line, read once by node:util's parseArgs.
import { parseArgs } from 'node:util';
import { ConfigError, SERVICES, commandLine, isService, type Service } from '@fedstack/runtime';
import { parseUrl } from '../config';

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

/** A database URL given as `flag`, checked here: a bad one is named by its flag, and never printed (it may hold a password). */
/** A database URL given as `flag`, refused naming the flag (db:split named PAYMENTS_DATABASE_URL for a bad --to). */
function urlOption(value: string, flag: string): string {
  parseUrl(value, flag);
  return value;
}

type Tokens = NonNullable<ReturnType<typeof parseArgs>['tokens']>;

/** Refuses an option given twice (`--service payments --service auth`), which parseArgs would settle silently by the last. */
function once(command: string, tokens: Tokens, names: readonly string[]): void {
  for (const name of names) {
    if (tokens.filter((token) => token.kind === 'option' && token.name === name).length > 1)
      throw new ConfigError(`db ${command}: --${name} is given more than once`);
  }
}

/** parseArgs for `db <command>`, its errors as one line naming the command; an option given twice refused. */
function parse<O extends Record<string, { type: 'string' }>>(command: string, args: string[], options: O) {
  const { values, tokens } = commandLine(`db ${command}`, () => parseArgs({ args, options, tokens: true }));
  once(command, tokens, Object.keys(options));
  return values as { [K in keyof O]?: string };
}

/**
 * Refuses options that npm took for its own: `npm run db:migrate --service=payments`, without `--`, hands
 * the command no option at all (npm keeps it as npm_config_service), and every service would be migrated.
 */
export function assertNoOptionsTakenByNpm(env: NodeJS.ProcessEnv): void {
  const taken = ['service', 'to', 'from'].filter((name) => env[`npm_config_${name}`] !== undefined);
  if (taken.length > 0) {
    throw new ConfigError(`npm took --${taken[0]} for one of its own options: put -- before the command's options (npm run db:migrate -- --service=payments)`);
  }
}

/**
 * `db prisma [--service NAME] ARGS…`: the service option is ours, everything else is Prisma's and passes
 * through in order, whatever options Prisma itself takes.
 */
function prismaCommand(args: string[]): DbCommand {
  const { tokens } = commandLine('db prisma', () =>
    parseArgs({ args, options: { service: { type: 'string' } }, strict: false, allowPositionals: true, tokens: true }),
  );
  once('prisma', tokens, ['service']);
  const ours = tokens.filter((token) => token.kind === 'option' && token.name === 'service');
  const taken = new Set(ours.flatMap((token) => (token.kind === 'option' && token.inlineValue === false ? [token.index, token.index + 1] : [token.index])));
  const [value] = ours;
  const service = value?.kind === 'option' ? value.value : undefined;
  if (value && typeof service !== 'string') throw new ConfigError('db prisma: --service needs a value (--service NAME)');
  const prismaArgs = args.filter((_, index) => !taken.has(index));
  // Run for every service in turn, a script would be applied once per service: four times over one database in the shared layout.
  const [first, second] = prismaArgs.filter((arg) => !arg.startsWith('-'));
  if (service === undefined && first === 'db' && second === 'execute') {
    throw new ConfigError("db prisma: db execute runs its script on one service's database: name it (--service NAME)");
  }
  // An empty one (`--service=$SERVICE` with nothing in it) is refused, not taken for "every service".
  return {
    command: 'prisma',
    ...(service !== undefined ? { service: serviceOption(service) as Service } : {}),
    prismaArgs,
  };
}

/** Reads `db <command> …`'s arguments, or fails with one line saying what is wrong; undefined when no command is given. */
export function parseDbCommand(argv: readonly string[]): DbCommand | undefined {
  const [command, ...args] = argv;
  switch (command) {
    case 'migrate': {
      const service = serviceOption(parse('migrate', args, { service: { type: 'string' } }).service);
      return { command, ...(service ? { service } : {}) };
    }
    case 'seed':
      parse('seed', args, {});
      return { command };
    case 'prisma':
      return prismaCommand(args);
    case 'split': {
      const values = parse('split', args, { service: { type: 'string' }, to: { type: 'string' }, from: { type: 'string' } });
      const service = serviceOption(values.service);
      if (!service || !values.to) throw new ConfigError("db split needs --service NAME and --to URL (the owner's connection to the new database)");
      return { command, service, to: urlOption(values.to, '--to'), ...(values.from !== undefined ? { from: urlOption(values.from, '--from') } : {}) };
    }
    default:
      return undefined;
  }
}
