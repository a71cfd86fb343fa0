// The key subgraphs verify access tokens with: JWT_PUBLIC_KEY, else JWT_JWKS_URL, else the development key.
import { createLocalJWKSet, createRemoteJWKSet, errors, importJWK, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { AppError, ConfigError, ErrorCode, TOKEN_ALGORITHM, loadOrCreateDevelopmentKeyPair, parsePublicKey, type VerificationKey } from '@fedstack/runtime';
import type { TokenVerificationConfig } from './config';

export async function resolveVerificationKey(config: TokenVerificationConfig): Promise<VerificationKey> {
  if (config.publicKey) return parsePublicKey(config.publicKey, 'JWT_PUBLIC_KEY');
  if (config.jwksUrl) return remoteKeySet(new URL(config.jwksUrl));
  if (config.developmentKeyFile) {
    const { publicJwk } = await loadOrCreateDevelopmentKeyPair(config.developmentKeyFile);
    return importJWK(publicJwk, TOKEN_ALGORITHM);
  }
  throw new ConfigError('no key to verify access tokens with: set JWT_PUBLIC_KEY or JWT_JWKS_URL');
}

/** Whether reading the key set failed (auth down, slow, or answering something else), rather than the token's key being unknown. */
function readFailed(error: unknown): boolean {
  if (!(error instanceof errors.JOSEError)) return true;
  return error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid || error.code === 'ERR_JOSE_GENERIC';
}

/**
 * auth's key set at `url`, read again every `maxAgeMs` (and at once, at most every 30 s, for a key it
 * lacks). Once they are that old, the keys held go on verifying tokens while they are read again in the
 * background: jose waits for the read (up to 5 s) and fails the token when auth cannot be reached, which
 * was refused as "not valid" whenever a process's keys were over ten minutes old, and clients signed their
 * users out. With no keys at all (started while auth was down), the request fails as auth being unavailable.
 * After a failed read, auth is asked again only `retryAfterMs` later.
 */
export function remoteKeySet(url: URL, { maxAgeMs = 600_000, retryAfterMs = 5_000 }: { maxAgeMs?: number; retryAfterMs?: number } = {}): JWTVerifyGetKey {
  const remote = createRemoteJWKSet(url, { cooldownDuration: 30_000, cacheMaxAge: maxAgeMs });
  let failedAt = -Infinity;
  let held: { jwks: JSONWebKeySet; keys: JWTVerifyGetKey } | undefined;
  const heldKeys = () => {
    const jwks = remote.jwks();
    if (jwks && held?.jwks !== jwks) held = { jwks, keys: createLocalJWKSet(jwks) };
    return jwks && held?.keys;
  };
  const unavailable = () =>
    new AppError(ErrorCode.SUBGRAPH_UNAVAILABLE, "auth's token signing keys could not be read (JWT_JWKS_URL): try again shortly", {
      unavailableService: 'auth',
    });
  return async (header, token) => {
    const keys = heldKeys();
    if (keys && !remote.fresh) {
      if (!remote.reloading && Date.now() - failedAt >= retryAfterMs) remote.reload().catch(() => (failedAt = Date.now()));
      try {
        return await keys(header, token);
      } catch (error) {
        // A key the set lacks may be auth's newest: asked for below.
        if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      }
    }
    // None held, and auth just failed to give them: not asked again for every request meanwhile.
    if (!keys && Date.now() - failedAt < retryAfterMs) throw unavailable();
    try {
      return await remote(header, token);
    } catch (error) {
      if (!readFailed(error)) throw error;
      failedAt = Date.now();
      const fallback = heldKeys();
      if (!fallback) throw unavailable();
      return fallback(header, token);
    }
  };
}
