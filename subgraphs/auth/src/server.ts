// The auth subgraph's server: token signing, its JWKS, throttling and admin's commands on service-kit's subgraph server.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'graphql';
import { ConfigError, parsePublicJwks } from '@fedstack/runtime';
import { loadPasswordHashing, unmatchableHash } from '@fedstack/shared-db';
import { createSubgraphServer, createTokenVerifier, type SubgraphServer, type SubgraphServerOptions } from '@fedstack/service-kit';
import { createLocalJWKSet, type JWK } from 'jose';
import type { AuthConfig } from './config';
import { createAuthContext, type AuthServices } from './context';
import { accountStates } from './domain/account-state';
import { expiredCounterSweep } from './domain/expired-counters';
import { createAccessTokenIssuer, resolveSigningKey } from './domain/signing';
import { throttleKeys } from './domain/throttle';
import { authCommands } from './internal';
import { resolvers } from './resolvers';

export const typeDefs = parse(readFileSync(path.join(__dirname, '..', 'schema.graphql'), 'utf8'));

export interface AuthServerOptions extends Omit<SubgraphServerOptions, 'config' | 'verifyToken'> {
  config: AuthConfig;
}

/** Builds the auth subgraph (not yet listening). It signs tokens and serves its public key as a JWKS. */
export async function createAuthServer(options: AuthServerOptions): Promise<SubgraphServer<'auth'>> {
  const { config } = options;
  loadPasswordHashing();
  const signingKey = await resolveSigningKey(config.signingKey, config.tokens.developmentKeyFile);
  const services: AuthServices = {
    issueAccessToken: createAccessTokenIssuer({
      key: signingKey,
      issuer: config.tokens.issuer,
      audience: config.tokens.audience,
      ttlSeconds: config.accessTokenTtlSeconds,
    }),
    refreshTokenTtlSeconds: config.refreshTokenTtlSeconds,
    throttle: config.throttle,
    throttleKeys: await throttleKeys(config.throttleKeys),
    dummyPasswordHash: unmatchableHash(),
  };
  const jwks = { keys: [signingKey.publicJwk, ...(config.otherPublicKeys ? await otherKeys(config.otherPublicKeys, signingKey.publicJwk) : [])] };
  return createSubgraphServer(
    {
      service: 'auth',
      typeDefs,
      resolvers,
      textLimits: { 'Query.users': { 'filter.emailPrefix': 254 } },
      context: (request, deps) => createAuthContext(request, deps, services),
      accountStates,
      internal: ({ db }) => authCommands(db, services.throttleKeys),
      publishes: true,
      workers: ({ db, logger }) => [expiredCounterSweep(db, logger.child({ component: 'throttle' }))],
      routes(app) {
        app.get('/.well-known/jwks.json', (_req, res) => {
          res.set('cache-control', 'public, max-age=300').json(jwks);
        });
      },
    },
    {
      ...options,
      verifyToken: createTokenVerifier({
        // Tokens another replica signed during a rotation are taken too: each key chosen by the token's kid.
        key: createLocalJWKSet(jwks),
        issuer: config.tokens.issuer,
        audience: config.tokens.audience,
      }),
    },
  );
}

/**
 * JWT_OTHER_PUBLIC_KEYS, beside the signing key's: the signing key itself listed again is left out, and
 * another key under its kid refused (a token's kid would not say which of the two signed it).
 */
async function otherKeys(value: string, signing: JWK): Promise<JWK[]> {
  const others = await parsePublicJwks(value, 'JWT_OTHER_PUBLIC_KEYS');
  const kids = new Set<string | undefined>();
  return others.filter((jwk) => {
    if (kids.has(jwk.kid)) throw new ConfigError(`JWT_OTHER_PUBLIC_KEYS holds two keys with kid ${jwk.kid}`);
    kids.add(jwk.kid);
    if (jwk.kid !== signing.kid) return true;
    if (jwk.x === signing.x) return false;
    throw new ConfigError(`JWT_OTHER_PUBLIC_KEYS holds another key with the signing key's kid (${jwk.kid})`);
  });
}
