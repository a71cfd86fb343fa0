import { loadServiceConfig } from './config';

const BASE = { DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/app' };
const PRODUCTION = {
  ...BASE,
  NODE_ENV: 'production',
  PROFILE_DB_PASSWORD: 'secret',
  JWT_JWKS_URL: 'http://auth:4001/.well-known/jwks.json',
  INTERNAL_PRIVATE_KEY: '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIK3UmB6Mo3Kn3m3QeVnUdkW2Z6gZ2ByMuJ6TzKkHfJ2L\n-----END PRIVATE KEY-----',
  GATEWAY_PUBLIC_KEY: '{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}',
};

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
    [
      'no internal API key in production',
      { ...PRODUCTION, INTERNAL_PRIVATE_KEY: undefined },
      /INTERNAL_PRIVATE_KEY or INTERNAL_PRIVATE_KEY_FILE must be set in production/,
    ],
    [
      "no key for the gateway's assertions in production",
      { ...PRODUCTION, GATEWAY_PUBLIC_KEY: undefined },
      /GATEWAY_PUBLIC_KEY or GATEWAY_PUBLIC_KEY_FILE must be set in production \(or REQUIRE_GATEWAY=false\)/,
    ],
    ['an internal API key file it cannot read', { ...BASE, INTERNAL_PRIVATE_KEY_FILE: '/no/such/key' }, /INTERNAL_PRIVATE_KEY_FILE cannot be read \(ENOENT/],
    ['an unknown database layout', { ...BASE, DB_LAYOUT: 'sharded' }, /DB_LAYOUT must be one of shared, split \(got "sharded"\)/],
    ['a subgraph URL that is not http', { ...BASE, AUTH_SUBGRAPH_URL: 'auth:4001' }, /AUTH_SUBGRAPH_URL is not a valid http\(s\) URL/],
    ['a flag that is not a boolean', { ...BASE, INTROSPECTION: 'maybe' }, /INTROSPECTION must be true or false/],
  ])('refuses %s at start, naming the setting', (_label, env, message) => {
    expect(() => loadServiceConfig('profile', env)).toThrow(message);
  });

  it('answers only the gateway in production unless told otherwise, and anyone outside it unless told', () => {
    expect(loadServiceConfig('profile', PRODUCTION).gateway).toMatchObject({ required: true, publicKey: { setting: 'GATEWAY_PUBLIC_KEY' } });
    expect(loadServiceConfig('profile', { ...PRODUCTION, GATEWAY_PUBLIC_KEY: undefined, REQUIRE_GATEWAY: 'false' }).gateway.required).toBe(false);
    expect(loadServiceConfig('profile', BASE).gateway.required).toBe(false);
    expect(loadServiceConfig('profile', { ...BASE, REQUIRE_GATEWAY: 'true' }).gateway).toMatchObject({
      required: true,
      developmentKeyFile: expect.any(String),
    });
  });

  it('lets auth start in production without a verification key: it verifies with its own', () => {
    expect(() => loadServiceConfig('auth', { ...PRODUCTION, JWT_JWKS_URL: '', AUTH_DB_PASSWORD: 'x' })).not.toThrow();
  });

  describe('where the database is', () => {
    const url = (env: NodeJS.ProcessEnv) => new URL(loadServiceConfig('profile', env).databaseUrl);

    it('takes <SERVICE>_DATABASE_URL as it is when it connects as the service role', () => {
      const given = 'postgresql://profile_svc:pw@profile-db:5432/profile';
      expect(loadServiceConfig('profile', { ...BASE, PROFILE_DATABASE_URL: given }).databaseUrl).toBe(given);
    });

    it("derives the role's connection from an owner's <SERVICE>_DATABASE_URL, in either layout", () => {
      const derived = url({ ...BASE, PROFILE_DATABASE_URL: 'postgresql://postgres:owner@profile-db:5433/profile_db' });
      expect({ user: derived.username, host: derived.host, database: derived.pathname }).toEqual({
        user: 'profile_svc',
        host: 'profile-db:5433',
        database: '/profile_db',
      });
    });

    it("gives each service a database of its own on DATABASE_URL's server with DB_LAYOUT=split", () => {
      expect(url(BASE).pathname).toBe('/app');
      expect(url({ ...BASE, DB_LAYOUT: 'split' }).pathname).toBe('/app_profile');
    });
  });
});
