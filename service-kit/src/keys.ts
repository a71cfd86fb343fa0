import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  importSPKI,
  type CryptoKey,
  type JWK,
  type JWTVerifyGetKey,
} from 'jose';
import { ConfigError } from '@fedstack/shared-db';
import type { TokenVerificationConfig } from './config';

/** Access tokens are signed with Ed25519. */
export const TOKEN_ALGORITHM = 'EdDSA';

/** What verification needs: one public key, or a key set chosen by the token's `kid`. */
export type VerificationKey = CryptoKey | Uint8Array | JWTVerifyGetKey;

export interface DevelopmentKeyPair {
  privateJwk: JWK;
  publicJwk: JWK;
}

/**
 * The development key pair, created on first use in a git-ignored file. Several processes may start
 * at once: exactly one creates the file (exclusive create) and the others read what it wrote.
 */
export async function loadOrCreateDevelopmentKeyPair(file: string): Promise<DevelopmentKeyPair> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as DevelopmentKeyPair;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const { privateKey, publicKey } = await generateKeyPair(TOKEN_ALGORITHM, { extractable: true });
  const kid = `dev-${Date.now().toString(36)}`;
  const pair: DevelopmentKeyPair = {
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: TOKEN_ALGORITHM, use: 'sig' },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: TOKEN_ALGORITHM, use: 'sig' },
  };
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    await writeFile(file, JSON.stringify(pair, null, 2), { flag: 'wx', mode: 0o600 });
    return pair;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    // Another process won the race; wait until its write is complete.
    for (let attempt = 0; attempt < 50; attempt += 1) {
      try {
        return JSON.parse(await readFile(file, 'utf8')) as DevelopmentKeyPair;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    throw new ConfigError(`the development key file ${file} exists but cannot be read as a key pair`);
  }
}

/** Reads a public key given as PEM (SPKI), a JWK or a JWK Set. */
export async function parsePublicKey(value: string, setting: string): Promise<VerificationKey> {
  const text = value.trim();
  try {
    if (text.startsWith('-----BEGIN')) return await importSPKI(text, TOKEN_ALGORITHM);
    const parsed = JSON.parse(text) as JWK | { keys: JWK[] };
    if ('keys' in parsed) return createLocalJWKSet(parsed);
    return await importJWK(parsed, TOKEN_ALGORITHM);
  } catch (error) {
    throw new ConfigError(`${setting} is not an Ed25519 public key as PEM, JWK or JWK Set (${(error as Error).message})`);
  }
}

/** The key subgraphs verify access tokens with: JWT_PUBLIC_KEY, else JWT_JWKS_URL, else the development key. */
export async function resolveVerificationKey(config: TokenVerificationConfig): Promise<VerificationKey> {
  if (config.publicKey) return parsePublicKey(config.publicKey, 'JWT_PUBLIC_KEY');
  if (config.jwksUrl) return createRemoteJWKSet(new URL(config.jwksUrl), { cooldownDuration: 30_000, cacheMaxAge: 600_000 });
  if (config.developmentKeyFile) {
    const { publicJwk } = await loadOrCreateDevelopmentKeyPair(config.developmentKeyFile);
    return importJWK(publicJwk, TOKEN_ALGORITHM);
  }
  throw new ConfigError('no key to verify access tokens with: set JWT_PUBLIC_KEY or JWT_JWKS_URL');
}
