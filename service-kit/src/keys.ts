// The key subgraphs verify access tokens with: JWT_PUBLIC_KEY, else JWT_JWKS_URL, else the development key.
import { createRemoteJWKSet, importJWK } from 'jose';
import { ConfigError, TOKEN_ALGORITHM, loadOrCreateDevelopmentKeyPair, parsePublicKey, type VerificationKey } from '@fedstack/runtime';
import type { TokenVerificationConfig } from './config';

export async function resolveVerificationKey(config: TokenVerificationConfig): Promise<VerificationKey> {
  if (config.publicKey) return parsePublicKey(config.publicKey, 'JWT_PUBLIC_KEY');
  if (config.jwksUrl) return createRemoteJWKSet(new URL(config.jwksUrl), { cooldownDuration: 30_000, cacheMaxAge: 600_000 });
  if (config.developmentKeyFile) {
    const { publicJwk } = await loadOrCreateDevelopmentKeyPair(config.developmentKeyFile);
    return importJWK(publicJwk, TOKEN_ALGORITHM);
  }
  throw new ConfigError('no key to verify access tokens with: set JWT_PUBLIC_KEY or JWT_JWKS_URL');
}
