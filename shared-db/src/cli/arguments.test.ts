import { ConfigError } from '@fedstack/runtime';
import { assertNoOptionsTakenByNpm, parseDbCommand } from './arguments';

describe('db command lines', () => {
  it.each([
    [['migrate'], { command: 'migrate' }],
    [['migrate', '--service', 'payments'], { command: 'migrate', service: 'payments' }],
    [['migrate', '--service=payments'], { command: 'migrate', service: 'payments' }],
    [['seed'], { command: 'seed' }],
    [['split', '--service', 'admin', '--to', 'postgresql://x/y'], { command: 'split', service: 'admin', to: 'postgresql://x/y' }],
    [
      ['split', '--service=admin', '--to=postgresql://x/y', '--from=postgresql://x/z'],
      { command: 'split', service: 'admin', to: 'postgresql://x/y', from: 'postgresql://x/z' },
    ],
    [['prisma', 'migrate', 'status'], { command: 'prisma', prismaArgs: ['migrate', 'status'] }],
    [['prisma', '--service', 'auth', 'migrate', 'status'], { command: 'prisma', service: 'auth', prismaArgs: ['migrate', 'status'] }],
    [['prisma', '--service=auth', 'migrate', 'diff', '--exit-code'], { command: 'prisma', service: 'auth', prismaArgs: ['migrate', 'diff', '--exit-code'] }],
    [
      ['prisma', 'migrate', 'diff', '--from-migrations', 'prisma/auth/migrations', '--service', 'auth'],
      { command: 'prisma', service: 'auth', prismaArgs: ['migrate', 'diff', '--from-migrations', 'prisma/auth/migrations'] },
    ],
  ])('%j', (argv, expected) => {
    expect(parseDbCommand(argv)).toEqual(expected);
  });

  it.each([
    [['migrate', '--service=billing'], '--service must be one of auth, profile, payments, admin (got "billing")'],
    [['migrate', '--service'], "db migrate: Option '--service <value>' argument missing"],
    [['migrate', '--services=payments'], "db migrate: Unknown option '--services'"],
    [['migrate', 'payments'], 'db migrate: Unexpected argument'],
    [['seed', '--service=auth'], "db seed: Unknown option '--service'"],
    [['split', '--service=admin'], "db split needs --service NAME and --to URL (the owner's connection to the new database)"],
    [['prisma', '--service'], 'db prisma: --service needs a value (--service NAME)'],
    // Run for every service in turn, the script was applied four times over the shared layout's one database.
    [['prisma', 'db', 'execute', '--stdin'], "db prisma: db execute runs its script on one service's database: name it (--service NAME)"],
    [['prisma', '--service=', 'migrate', 'status'], '--service must be one of auth, profile, payments, admin (got "")'],
    [['prisma', '--service=auth', '--service', 'payments', 'migrate', 'status'], 'db prisma: --service is given more than once'],
    [['migrate', '--service', 'payments', '--service', 'auth'], 'db migrate: --service is given more than once'],
    [['split', '--service=admin', '--to=postgresql://x/a', '--to=postgresql://x/b'], 'db split: --to is given more than once'],
    [['split', '--service=admin', '--to=postgresql://x/a', '--from=postgresql://owner:pa#ss@db/fedstack'], '--from is not a valid URL'],
    [['split', '--service=admin', '--to=not a url'], '--to is not a valid URL'],
    [['split', '--service=payments', '--to=mysql://root@127.0.0.1/x'], '--to must start with postgresql://'],
    [['split', '--service=payments', '--to=postgresql://postgres:pw@127.0.0.1:5433'], '--to must name a database'],
    // A value left out before the next flag: said, not only "ambiguous".
    [
      ['split', '--service=admin', '--to', '--from', 'postgresql://x/a'],
      "db split: Option '--to' argument is ambiguous. Did you forget to specify the option argument for '--to'?",
    ],
  ])('%j is refused with one line', (argv, message) => {
    let refusal: unknown;
    try {
      parseDbCommand(argv);
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(ConfigError);
    expect((refusal as Error).message.split('\n')).toHaveLength(1);
    expect((refusal as Error).message.startsWith(message)).toBe(true);
    // A URL that does not parse may still hold a password: it is named by its flag, never shown.
    expect((refusal as Error).message).not.toContain('pa#ss');
  });

  it('refuses options npm took for its own (npm run db:migrate --service=payments, without --), which would have migrated every service', () => {
    expect(() => assertNoOptionsTakenByNpm({ npm_config_service: 'payments' })).toThrow(
      "npm took --service for one of its own options: put -- before the command's options (npm run db:migrate -- --service=payments)",
    );
    expect(() => assertNoOptionsTakenByNpm({ npm_config_cache: '/tmp/npm' })).not.toThrow();
  });

  it('gives nothing for no command or an unknown one (the usage is printed)', () => {
    expect(parseDbCommand([])).toBeUndefined();
    expect(parseDbCommand(['drop'])).toBeUndefined();
  });
});
