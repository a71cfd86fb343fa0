import { randomUUID } from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, exportJWK, importJWK, importPKCS8, type CryptoKey, type JWK } from 'jose';
import { ConfigError } from '@fedstack/shared-db';
import { TOKEN_ALGORITHM, loadOrCreateDevelopmentKeyPair, type AccessTokenClaims, type ViewerRole } from '@fedstack/service-kit';

export interface SigningKey {
  privateKey: CryptoKey;
  /** The public half, as served in the JWKS. */
  publicJwk: JWK;
}

/** The public half as a JWK; without a given kid, its thumbprint (RFC 7638), so that each key has its own. */
async function publicJwkOf(privateKey: CryptoKey, kid?: string): Promise<JWK> {
  const { d: _secret, ...publicPart } = await exportJWK(privateKey);
  return { ...publicPart, kid: kid ?? (await calculateJwkThumbprint(publicPart)), alg: TOKEN_ALGORITHM, use: 'sig' };
}

/**
 * Reads the configured private key (PKCS#8 PEM or a private JWK, from the setting `setting` names), or
 * in development the generated key file.
 */
export async function resolveSigningKey(
  configured: { value: string; setting: string } | undefined,
  developmentKeyFile: string | undefined,
): Promise<SigningKey> {
  if (configured) {
    const text = configured.value.trim();
    try {
      if (text.startsWith('-----BEGIN')) {
        const privateKey = await importPKCS8(text, TOKEN_ALGORITHM, { extractable: true });
        return { privateKey, publicJwk: await publicJwkOf(privateKey) };
      }
      const jwk = JSON.parse(text) as JWK;
      const privateKey = (await importJWK(jwk, TOKEN_ALGORITHM, { extractable: true })) as CryptoKey;
      return { privateKey, publicJwk: await publicJwkOf(privateKey, jwk.kid) };
    } catch (error) {
      throw new ConfigError(`${configured.setting} is not an Ed25519 private key as PKCS#8 PEM or JWK (${(error as Error).message})`);
    }
  }
  if (!developmentKeyFile) throw new ConfigError('JWT_PRIVATE_KEY must be set: auth has no key to sign access tokens with');
  const pair = await loadOrCreateDevelopmentKeyPair(developmentKeyFile);
  return { privateKey: (await importJWK(pair.privateJwk, TOKEN_ALGORITHM)) as CryptoKey, publicJwk: pair.publicJwk };
}

export interface IssuedAccessToken {
  token: string;
  expiresAt: Date;
}

/** Signs access tokens: short-lived JWTs with iss, aud, sub, role, the sign-in's id and a unique jti. */
export function createAccessTokenIssuer(options: {
  key: SigningKey;
  issuer: string;
  audience: string;
  ttlSeconds: number;
}): (subject: { userId: string; role: ViewerRole; sessionId: string }) => Promise<IssuedAccessToken> {
  return async ({ userId, role, sessionId }) => {
    const issuedAt = Math.floor(Date.now() / 1000);
    const expiresAt = issuedAt + options.ttlSeconds;
    const claims: Omit<AccessTokenClaims, 'sub' | 'jti'> = { role, sid: sessionId };
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: TOKEN_ALGORITHM, typ: 'JWT', kid: String(options.key.publicJwk.kid) })
      .setIssuer(options.issuer)
      .setAudience(options.audience)
      .setSubject(userId)
      .setJti(randomUUID())
      .setIssuedAt(issuedAt)
      .setExpirationTime(expiresAt)
      .sign(options.key.privateKey);
    return { token, expiresAt: new Date(expiresAt * 1000) };
  };
}
