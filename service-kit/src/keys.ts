// The key subgraphs verify access tokens with: JWT_PUBLIC_KEY, else JWT_JWKS_URL, else the development key.
import { createLocalJWKSet, createRemoteJWKSet, errors, importJWK, type JWTVerifyGetKey } from 'jose';
import {
  AppError,
  ConfigError,
  ErrorCode,
  TOKEN_ALGORITHM,
  loadOrCreateDevelopmentKeyPair,
  parsePublicKey,
  type Logger,
  type VerificationKey,
} from '@fedstack/runtime';
import type { TokenVerificationConfig } from './config';

export async function resolveVerificationKey(config: TokenVerificationConfig, logger?: Logger): Promise<VerificationKey> {
  if (config.publicKey) return parsePublicKey(config.publicKey, 'JWT_PUBLIC_KEY');
  if (config.jwksUrl) {
    const url = config.jwksUrl;
    return remoteKeySet(new URL(url), {
      onReadFailed: (error, held) =>
        logger?.warn(
          { err: error, jwksUrl: url },
          held ? "auth's keys could not be read again: the keys held go on verifying tokens" : "auth's keys could not be read: tokens cannot be verified",
        ),
    });
  }
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
 * users out. Held keys serve for `heldForMs` at most past their last read, so that a key auth has removed
 * (a rotation after a leak) is not trusted for as long as auth can be kept from answering. A token that
 * cannot be checked (no keys, keys too old, a key the set lacks while auth is away) fails as auth being
 * unavailable; after a failed read, auth is asked again only `retryAfterMs` later. `onReadFailed` hears of
 * each failed read (at most one per `retryAfterMs`), and whether keys are held meanwhile.
 */
export function remoteKeySet(
  url: URL,
  {
    maxAgeMs = 600_000,
    heldForMs = 3_600_000,
    retryAfterMs = 5_000,
    onReadFailed = () => undefined,
  }: { maxAgeMs?: number; heldForMs?: number; retryAfterMs?: number; onReadFailed?: (error: unknown, held: boolean) => void } = {},
): JWTVerifyGetKey {
  const remote = createRemoteJWKSet(url, { cooldownDuration: 30_000, cacheMaxAge: maxAgeMs });
  let failedAt = -Infinity;
  /** When the keys were last seen fresh (read within `maxAgeMs`). */
  let freshAt = -Infinity;
  let held: { text: string; keys: JWTVerifyGetKey } | undefined;
  /** The keys held, as a local set kept while they stay the same (jose gives a copy of them on every call). */
  const heldKeys = (): JWTVerifyGetKey | undefined => {
    const jwks = remote.jwks();
    if (!jwks || Date.now() - freshAt >= heldForMs) return undefined;
    const text = JSON.stringify(jwks);
    if (held?.text !== text) held = { text, keys: createLocalJWKSet(jwks) };
    return held.keys;
  };
  const unavailable = () =>
    new AppError(ErrorCode.SUBGRAPH_UNAVAILABLE, "auth's token signing keys could not be read (JWT_JWKS_URL): try again shortly", {
      unavailableService: 'auth',
    });
  const withHeld = async (keys: JWTVerifyGetKey, header: Parameters<JWTVerifyGetKey>[0], token: Parameters<JWTVerifyGetKey>[1]) => {
    try {
      return await keys(header, token);
    } catch (error) {
      // A key the set lacks may be auth's newest.
      throw error instanceof errors.JWKSNoMatchingKey ? unavailable() : error;
    }
  };
  return async (header, token) => {
    if (remote.fresh) {
      freshAt = Date.now();
      return remote(header, token);
    }
    const keys = heldKeys();
    if (keys) {
      if (!remote.reloading && Date.now() - failedAt >= retryAfterMs)
        remote.reload().then(
          () => (freshAt = Date.now()),
          (error: unknown) => {
            failedAt = Date.now();
            onReadFailed(error, true);
          },
        );
      try {
        return await withHeld(keys, header, token);
      } catch (error) {
        // Unknown to the keys held: asked of auth below.
        if (!(error instanceof AppError)) throw error;
      }
    }
    // Nothing to check it with, and auth just failed to answer: not asked again for every request meanwhile.
    if (!keys && Date.now() - failedAt < retryAfterMs) throw unavailable();
    try {
      const key = await remote(header, token);
      freshAt = Date.now();
      return key;
    } catch (error) {
      if (!readFailed(error)) throw error;
      failedAt = Date.now();
      const fallback = heldKeys();
      onReadFailed(error, fallback !== undefined);
      if (!fallback) throw unavailable();
      return withHeld(fallback, header, token);
    }
  };
}
