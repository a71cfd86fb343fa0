import { WAL_POSITIONS_HEADER, WalPositions, WalPositionsError, parseLsn } from './wal-positions';

describe('WAL positions in a header', () => {
  it('reads PostgreSQL’s notation as a number, and nothing else', () => {
    expect(parseLsn('16/B374D848')).toBe(0x16b374d848n);
    expect(parseLsn('0/0')).toBe(0n);
    for (const wrong of ['', '16', '16/', 'G/1', '1/2/3', '123456789/0', ' 0/1']) expect(parseLsn(wrong)).toBeUndefined();
  });

  it('keeps the further position of each service, and writes them as it read them', () => {
    const positions = WalPositions.parse('payments=0/3000060, auth=0/30000A0');
    positions.merge('payments=0/2FFFFFF,profile=1/0');
    positions.add('auth', '0/30000B0');
    expect(positions.get('payments')).toBe('0/3000060');
    expect(positions.get('auth')).toBe('0/30000B0');
    expect(positions.get('admin')).toBeUndefined();
    expect(positions.toHeader()).toBe('payments=0/3000060, auth=0/30000B0, profile=1/0');
    expect(positions.toHeader('profile')).toBe('profile=1/0');
    expect(positions.toHeader('admin')).toBeUndefined();
    expect(WalPositions.parse(positions.toHeader()).toHeader()).toBe(positions.toHeader());
    const gathered = WalPositions.parse('auth=0/1');
    gathered.merge(positions);
    expect(gathered.toHeader()).toBe('auth=0/30000B0, payments=0/3000060, profile=1/0');
  });

  it('takes an absent or empty header as no positions', () => {
    expect(WalPositions.parse(undefined).toHeader()).toBeUndefined();
    expect(WalPositions.parse(' ').toHeader()).toBeUndefined();
  });

  it('refuses what an answer never gave, saying what it expected', () => {
    for (const [header, shown] of [
      ['payments', 'payments'],
      ['billing=0/1', 'billing=0/1'],
      ['payments=yesterday', 'payments=yesterday'],
      ['payments=0/1=2', 'payments=0/1=2'],
      ['auth=0/1,,', ''],
    ] as const) {
      expect(() => WalPositions.parse(header)).toThrow(WalPositionsError);
      expect(() => WalPositions.parse(header)).toThrow(
        `${WAL_POSITIONS_HEADER} must be <service>=<WAL position> pairs separated by commas, as an earlier answer gave them (got "${shown}")`,
      );
    }
    expect(() => WalPositions.parse(`auth=0/1,${' '.repeat(600)}`)).toThrow(`${WAL_POSITIONS_HEADER} is longer than 512 characters`);
  });
});
