import path from 'node:path';
import { loadGatewayConfig } from './config';

describe('gateway configuration', () => {
  it('takes routing overrides and limits from the environment', () => {
    const config = loadGatewayConfig({ PAYMENTS_SUBGRAPH_URL: 'http://payments:4003/graphql', MAX_QUERY_DEPTH: '8' });
    expect(config.subgraphUrls).toEqual({ payments: 'http://payments:4003/graphql' });
    expect(config.limits.maxDepth).toBe(8);
    expect(config.corsOrigins).toBe('*');
    expect(loadGatewayConfig({ NODE_ENV: 'production', GATEWAY_PRIVATE_KEY: 'a key' }).corsOrigins).toEqual([]);
  });

  it('runs persisted documents as documented: off without a manifest; with one, require in production and allow elsewhere', () => {
    const production = { NODE_ENV: 'production', GATEWAY_PRIVATE_KEY: 'a key' };
    const manifests = { PERSISTED_DOCUMENTS_FILE: 'a.json, b.json' };
    expect(loadGatewayConfig({}).persisted).toMatchObject({ mode: 'off', files: [] });
    expect(loadGatewayConfig(production).persisted.mode).toBe('off');
    expect(loadGatewayConfig(manifests).persisted).toMatchObject({ mode: 'allow', files: [path.resolve('a.json'), path.resolve('b.json')] });
    expect(loadGatewayConfig({ ...production, ...manifests }).persisted.mode).toBe('require');
    expect(loadGatewayConfig({ ...production, ...manifests, PERSISTED_DOCUMENTS: 'allow' }).persisted.mode).toBe('allow');
    // Turned off, the manifests are not read: a broken one kept the gateway from starting, off or not.
    expect(loadGatewayConfig({ ...production, ...manifests, PERSISTED_DOCUMENTS: 'off' }).persisted).toMatchObject({ mode: 'off', files: [] });
  });

  it.each([
    [
      'an Apollo usage-report switch that is not true or false',
      { APOLLO_TELEMETRY_DISABLED: 'yes' },
      /APOLLO_TELEMETRY_DISABLED must be true or false \(got "yes"\)/,
    ],
    [
      'a persisted-documents mode that does not exist',
      { PERSISTED_DOCUMENTS: 'strict' },
      /PERSISTED_DOCUMENTS must be one of off, allow, require \(got "strict"\)/,
    ],
    ['a list mode without a manifest', { PERSISTED_DOCUMENTS: 'allow' }, /PERSISTED_DOCUMENTS=allow needs the manifests in PERSISTED_DOCUMENTS_FILE/],
    ['a routing URL that is not a URL', { AUTH_SUBGRAPH_URL: 'auth:4001' }, /AUTH_SUBGRAPH_URL is not a valid http\(s\) URL/],
    ['a CORS entry that is not an origin', { CORS_ORIGINS: 'https://app.example.com/path' }, /CORS_ORIGINS must be "\*" or a comma-separated list of origins/],
    ['a limit of zero', { MAX_QUERY_COST: '0' }, /MAX_QUERY_COST must be a whole number/],
    ['a cost limit under what a sign-in weighs', { MAX_QUERY_COST: '14999' }, /MAX_QUERY_COST must be a whole number from 15000/],
    [
      'no key to sign its assertions with in production',
      { NODE_ENV: 'production' },
      /GATEWAY_PRIVATE_KEY or GATEWAY_PRIVATE_KEY_FILE must be set in production/,
    ],
  ])('refuses %s at start, naming the setting', (_label, env, message) => {
    expect(() => loadGatewayConfig(env)).toThrow(message);
  });
});
