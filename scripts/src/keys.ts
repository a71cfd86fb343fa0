import { randomBytes } from 'node:crypto';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { exportPKCS8, generateKeyPair } from 'jose';
import { ConfigError, runMain } from '@fedstack/shared-db';

const USAGE = 'usage: node scripts/dist/keys.js <folder> (writes the signing key and the internal API secret there unless they exist)';

/** The files a deployment's secrets live in, as the containers name them. */
const SECRET_FILES = { signingKey: 'jwt-private.pem', internalApiSecret: 'internal-api-secret' } as const;

/**
 * Writes `content` to `file` unless it exists: an exclusive create, so that two runs racing cannot replace
 * each other's secret. True when it wrote the file.
 */
async function createOnce(file: string, content: string): Promise<boolean> {
  try {
    await writeFile(file, content, { flag: 'wx', mode: 0o600 });
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if (!(await stat(file)).isFile()) throw new ConfigError(`${file} exists and is not a file`);
      return false;
    }
    throw new ConfigError(`cannot write ${file} (${code ?? (error as Error).message})`);
  }
}

/**
 * `node scripts/dist/keys.js <folder>`: provisions a deployment's secrets for containers: auth's token
 * signing key (JWT_PRIVATE_KEY_FILE) and the secret services sign their calls to each other with
 * (INTERNAL_API_SECRET_FILE). Existing files are kept, so that tokens already issued stay valid across
 * restarts and re-runs.
 */
async function main(): Promise<void> {
  const [target, ...extra] = process.argv.slice(2);
  if (!target || extra.length > 0) throw new ConfigError(USAGE);
  const folder = path.resolve(target);
  await mkdir(folder, { recursive: true, mode: 0o700 });

  const { privateKey } = await generateKeyPair('EdDSA', { extractable: true });
  const keyFile = path.join(folder, SECRET_FILES.signingKey);
  const createdKey = await createOnce(keyFile, await exportPKCS8(privateKey));
  console.log(createdKey ? `Created the signing key ${keyFile} (Ed25519, PKCS#8 PEM, mode 0600).` : `Found the signing key ${keyFile}; kept it.`);

  const secretFile = path.join(folder, SECRET_FILES.internalApiSecret);
  const createdSecret = await createOnce(secretFile, randomBytes(32).toString('base64url'));
  console.log(createdSecret ? `Created the internal API secret ${secretFile} (mode 0600).` : `Found the internal API secret ${secretFile}; kept it.`);
}

runMain(main);
