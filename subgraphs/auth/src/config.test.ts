import { loadAuthConfig } from './config';

const PRODUCTION = {
  NODE_ENV: 'production',
  DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/app',
  AUTH_DB_PASSWORD: 'secret',
  JWT_PRIVATE_KEY: 'a key',
  INTERNAL_PRIVATE_KEY: 'a key',
  GATEWAY_PUBLIC_KEY: 'a key',
  THROTTLE_KEY_SECRET: 'x'.repeat(32),
};

describe("auth's configuration", () => {
  it('takes the throttle key secret as given, without the line end a file adds', () => {
    expect(loadAuthConfig({ ...PRODUCTION, THROTTLE_KEY_SECRET: ` ${'s'.repeat(40)}\n` }).throttleKeys).toEqual({
      secret: { value: 's'.repeat(40), setting: 'THROTTLE_KEY_SECRET' },
    });
  });

  it('makes one in .data/keys outside production', () => {
    expect(loadAuthConfig({ DATABASE_URL: PRODUCTION.DATABASE_URL }).throttleKeys).toEqual({ developmentFile: expect.stringMatching(/\.data\/keys\//) });
  });

  it.each([
    [
      'no throttle key secret in production',
      { ...PRODUCTION, THROTTLE_KEY_SECRET: undefined },
      /^THROTTLE_KEY_SECRET or THROTTLE_KEY_SECRET_FILE must be set in production/,
    ],
    ['a short one', { ...PRODUCTION, THROTTLE_KEY_SECRET: 'password' }, /^THROTTLE_KEY_SECRET must be at least 32 characters \(got 8\)$/],
    [
      'a file it cannot read',
      { ...PRODUCTION, THROTTLE_KEY_SECRET: undefined, THROTTLE_KEY_SECRET_FILE: '/no/such/file' },
      /^THROTTLE_KEY_SECRET_FILE cannot be read/,
    ],
  ])('refuses %s at start, naming the setting', (_label, env, message) => {
    expect(() => loadAuthConfig(env)).toThrow(message);
  });
});
