import { loadServiceConfig } from './config';

const BASE = { DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/app' };
const PRODUCTION = { ...BASE, NODE_ENV: 'production', PROFILE_DB_PASSWORD: 'secret', JWT_JWKS_URL: 'http://auth:4001/.well-known/jwks.json' };

describe('service configuration', () => {
  it('derives the service role connection and sensible defaults in development', () => {
    const config = loadServiceConfig('profile', BASE);
    expect(new URL(config.databaseUrl).username).toBe('profile_svc');
    expect(config).toMatchObject({ port: 4002, production: false, introspection: true, logLevel: 'info' });
  });

  it.each([
    ['no verification key in production', { ...PRODUCTION, JWT_JWKS_URL: '' }, /JWT_PUBLIC_KEY or JWT_JWKS_URL must be set in production/],
    ['no role password in production', { ...PRODUCTION, PROFILE_DB_PASSWORD: undefined }, /PROFILE_DB_PASSWORD must be set in production/],
    ['an unknown log level', { ...BASE, LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent \(got "loud"\)/],
    ['a port out of range', { ...BASE, PROFILE_PORT: '70000' }, /PROFILE_PORT must be a port number from 0 to 65535 \(got "70000"\)/],
    ['a pool size that is not a number', { ...BASE, DB_POOL_SIZE: 'many' }, /DB_POOL_SIZE must be a whole number/],
    ['a service URL for another role', { ...BASE, PROFILE_DATABASE_URL: 'postgresql://postgres@db/app' }, /PROFILE_DATABASE_URL must connect as the role profile_svc/],
    ['a flag that is not a boolean', { ...BASE, INTROSPECTION: 'maybe' }, /INTROSPECTION must be true or false/],
  ])('refuses %s at start, naming the setting', (_label, env, message) => {
    expect(() => loadServiceConfig('profile', env)).toThrow(message);
  });

  it('lets auth start in production without a verification key: it verifies with its own', () => {
    expect(() => loadServiceConfig('auth', { ...BASE, NODE_ENV: 'production', AUTH_DB_PASSWORD: 'x' })).not.toThrow();
  });
});
