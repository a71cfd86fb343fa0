// Signing access tokens with auth's Ed25519 key.
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { ConfigError, TOKEN_ALGORITHM, developmentPrivateKey, parsePrivateKey, type PrivateKeyPair } from '@fedstack/runtime';
import type { AccessTokenClaims, ViewerRole } from '@fedstack/service-kit';

export type SigningKey = PrivateKeyPair;

/**
 * Reads the configured private key (PKCS#8 PEM or a private JWK, from the setting `setting` names), or
 * in development the generated key file.
 */
export async function resolveSigningKey(
  configured: { value: string; setting: string } | undefined,
  developmentKeyFile: string | undefined,
): Promise<SigningKey> {
  if (configured) return parsePrivateKey(configured.value, configured.setting);
  if (!developmentKeyFile) throw new ConfigError('JWT_PRIVATE_KEY must be set: auth has no key to sign access tokens with');
  return developmentPrivateKey(developmentKeyFile);
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
