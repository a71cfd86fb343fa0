// The auth subgraph's server: token signing, its JWKS, throttling and admin's commands on service-kit's subgraph server.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'graphql';
import { keysBeside } from '@fedstack/runtime';
import { loadPasswordHashing, unmatchableHash } from '@fedstack/shared-db';
import { createSubgraphServer, createTokenVerifier, type SubgraphServer, type SubgraphServerOptions } from '@fedstack/service-kit';
import { createLocalJWKSet } from 'jose';
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
  const others = config.otherPublicKeys ? await keysBeside(signingKey.publicJwk, config.otherPublicKeys, 'JWT_OTHER_PUBLIC_KEYS') : [];
  const jwks = { keys: [signingKey.publicJwk, ...others] };
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
