// Ed25519 keys: read from settings, made anew, or kept in a git-ignored file for development.
import { randomUUID } from 'node:crypto';
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  importPKCS8,
  importSPKI,
  type CryptoKey,
  type JWK,
  type JWTVerifyGetKey,
} from 'jose';
import { ConfigError } from './errors';

/**
 * The shortest THROTTLE_KEY_SECRET auth takes (short of it, a secret could be guessed along with the
 * addresses it hides); here for the keys script too, which makes and checks that secret's file.
 */
export const THROTTLE_SECRET_MIN_LENGTH = 32;

/** Access tokens are signed with Ed25519. */
export const TOKEN_ALGORITHM = 'EdDSA';

/** What verification needs: one public key, or a key set chosen by the token's `kid`. */
export type VerificationKey = CryptoKey | Uint8Array | JWTVerifyGetKey;

export interface DevelopmentKeyPair {
  privateJwk: JWK;
  publicJwk: JWK;
}

/**
 * Links `candidate` into place as `file` (EEXIST if another process did first). Where the file system has
 * no hard links, the file is created exclusively instead, which a racer may read before it is written.
 */
async function linkOrCreate(candidate: string, file: string, content: string): Promise<void> {
  try {
    await link(candidate, file);
  } catch (error) {
    if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
    await writeFile(file, content, { flag: 'wx', mode: 0o600 });
  }
}

/**
 * A development secret kept in a git-ignored file, made by `make` on first use. Several processes may
 * start at once: each writes its candidate to a private temporary file and links it into place; exactly
 * one link succeeds and the others read that file, which is never seen half-written. Only
 * the file's own folder is private (0700): its parents keep their usual mode, since `.data/` also holds
 * the embedded server's data, which another system user (postgres) must reach.
 */
export async function developmentSecret<T>(file: string, make: () => Promise<string>, parse: (text: string) => T, what: string): Promise<T> {
  const read = async (): Promise<string | undefined> => {
    try {
      return await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  };
  let text = await read();
  if (text === undefined) {
    await mkdir(path.dirname(path.dirname(file)), { recursive: true });
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const content = await make();
    const candidate = `${file}.${randomUUID()}`;
    try {
      await writeFile(candidate, content, { flag: 'wx', mode: 0o600 });
      await linkOrCreate(candidate, file, content);
      return parse(content);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      await rm(candidate, { force: true });
    }
    text = await read();
  }
  try {
    return parse(text ?? '');
  } catch {
    throw new ConfigError(`the development ${what} file ${file} exists but cannot be read: delete it to have a new one made`);
  }
}

/** The development key pair, created on first use in a git-ignored file. */
export function loadOrCreateDevelopmentKeyPair(file: string): Promise<DevelopmentKeyPair> {
  const make = async () => {
    const { privateKey, publicKey } = await generateKeyPair(TOKEN_ALGORITHM, { extractable: true });
    const kid = `dev-${Date.now().toString(36)}`;
    const pair: DevelopmentKeyPair = {
      privateJwk: { ...(await exportJWK(privateKey)), kid, alg: TOKEN_ALGORITHM, use: 'sig' },
      publicJwk: { ...(await exportJWK(publicKey)), kid, alg: TOKEN_ALGORITHM, use: 'sig' },
    };
    return JSON.stringify(pair, null, 2);
  };
  return developmentSecret(file, make, (text) => JSON.parse(text) as DevelopmentKeyPair, 'key pair');
}

/** A private key with its public half, as served in a JWKS. */
export interface PrivateKeyPair {
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/** The public half as a JWK; without a given kid, its thumbprint (RFC 7638), so that each key has its own. */
async function publicJwkOf(privateKey: CryptoKey, kid?: string): Promise<JWK> {
  const { d: _secret, ...publicPart } = await exportJWK(privateKey);
  return { ...publicPart, kid: kid ?? (await calculateJwkThumbprint(publicPart)), alg: TOKEN_ALGORITHM, use: 'sig' };
}

/** Reads an Ed25519 private key given as PKCS#8 PEM or a private JWK, failing with the setting's name. */
export async function parsePrivateKey(value: string, setting: string): Promise<PrivateKeyPair> {
  const text = value.trim();
  try {
    if (text.startsWith('-----BEGIN')) {
      const privateKey = await importPKCS8(text, TOKEN_ALGORITHM, { extractable: true });
      return { privateKey, publicJwk: await publicJwkOf(privateKey) };
    }
    const jwk = JSON.parse(text) as JWK;
    const privateKey = (await importJWK(jwk, TOKEN_ALGORITHM, { extractable: true })) as CryptoKey;
    return { privateKey, publicJwk: await publicJwkOf(privateKey, jwk.kid) };
  } catch (error) {
    throw new ConfigError(`${setting} is not an Ed25519 private key as PKCS#8 PEM or JWK (${(error as Error).message})`);
  }
}

/** A new Ed25519 key, for this process only. */
export async function generatePrivateKey(): Promise<PrivateKeyPair> {
  const { privateKey } = await generateKeyPair(TOKEN_ALGORITHM, { extractable: true });
  return { privateKey, publicJwk: await publicJwkOf(privateKey) };
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

/**
 * Public keys given as PEM (SPKI), a JWK or a JWK Set, as a key set serves them: Ed25519 only, each with
 * its `kid` (where it has none, its RFC 7638 thumbprint, the kid a signer on its private half uses). A
 * private key is refused: what is given here is published.
 */
export async function parsePublicJwks(value: string, setting: string): Promise<JWK[]> {
  const text = value.trim();
  const fail = (why: string) => new ConfigError(`${setting} is not Ed25519 public keys as PEM, JWK or JWK Set (${why})`);
  let given: JWK[];
  try {
    if (text.startsWith('-----BEGIN')) given = [await exportJWK(await importSPKI(text, TOKEN_ALGORITHM, { extractable: true }))];
    else {
      const parsed = JSON.parse(text) as JWK | { keys?: unknown };
      given = 'keys' in parsed ? (parsed.keys as JWK[]) : [parsed as JWK];
    }
  } catch (error) {
    throw fail((error as Error).message);
  }
  if (!Array.isArray(given) || given.length === 0) throw fail('no key');
  return Promise.all(
    given.map(async (jwk, index) => {
      if (typeof jwk !== 'object' || jwk === null) throw fail(`key ${index + 1} is not a JWK`);
      if ('d' in jwk) throw new ConfigError(`${setting} holds a private key (key ${index + 1}): give only its public half, which is published`);
      try {
        await importJWK(jwk, TOKEN_ALGORITHM);
      } catch (error) {
        throw fail(`key ${index + 1}: ${(error as Error).message}`);
      }
      const { kty, crv, x } = jwk;
      return { kty, crv, x, kid: jwk.kid ?? (await calculateJwkThumbprint({ kty, crv, x })), alg: TOKEN_ALGORITHM, use: 'sig' };
    }),
  );
}

/**
 * The public keys `value` gives (parsePublicJwks) to publish beside `own`, the key this process signs
 * with, under the kids a signer on each uses (`kidOf`, for a service that prefixes them): `own` listed again
 * is left out; another key under its kid, or two keys under one, are refused, since a token's kid would not
 * say which of them signed it.
 */
export async function keysBeside(own: JWK, value: string, setting: string, kidOf: (kid: string) => string = (kid) => kid): Promise<JWK[]> {
  const others = (await parsePublicJwks(value, setting)).map((jwk) => ({ ...jwk, kid: kidOf(String(jwk.kid)) }));
  const kids = new Set<string>();
  return others.filter((jwk) => {
    if (kids.has(jwk.kid)) throw new ConfigError(`${setting} holds two keys with kid ${jwk.kid}`);
    kids.add(jwk.kid);
    if (jwk.kid !== own.kid) return true;
    if (jwk.x === own.x) return false;
    throw new ConfigError(`${setting} holds another key under the kid of the key this process signs with (${jwk.kid})`);
  });
}

/** The private half of the development key pair in `file` (made on first use), ready to sign with. */
export async function developmentPrivateKey(file: string): Promise<PrivateKeyPair> {
  const { privateJwk, publicJwk } = await loadOrCreateDevelopmentKeyPair(file);
  return { privateKey: (await importJWK(privateJwk, TOKEN_ALGORITHM)) as CryptoKey, publicJwk };
}
