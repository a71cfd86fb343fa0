import { ConfigError } from '@fedstack/runtime';
import { parseDbCommand } from './arguments';

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
  });

  it('gives nothing for no command or an unknown one (the usage is printed)', () => {
    expect(parseDbCommand([])).toBeUndefined();
    expect(parseDbCommand(['drop'])).toBeUndefined();
  });
});
