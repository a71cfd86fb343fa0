import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { exportPKCS8, generateKeyPair } from 'jose';
import { ConfigError, runMain } from '@fedstack/shared-db';

const USAGE = 'usage: node scripts/dist/jwt-key.js <file> (writes a new Ed25519 signing key there unless the file exists)';

/**
 * `node scripts/dist/jwt-key.js <file>`: provisions auth's token signing key for containers
 * (JWT_PRIVATE_KEY_FILE). An existing key is kept, so that tokens already issued stay valid across
 * restarts and re-runs.
 */
async function main(): Promise<void> {
  const [target, ...extra] = process.argv.slice(2);
  if (!target || extra.length > 0) throw new ConfigError(USAGE);
  const file = path.resolve(target);

  const { privateKey } = await generateKeyPair('EdDSA', { extractable: true });
  const pem = await exportPKCS8(privateKey);
  try {
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    // Exclusive create rather than a check first: two runs racing cannot replace each other's key.
    await writeFile(file, pem, { flag: 'wx', mode: 0o600 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if (!(await stat(file)).isFile()) throw new ConfigError(`${file} exists and is not a file`);
      console.log(`Found the signing key ${file}; kept it.`);
      return;
    }
    throw new ConfigError(`cannot write the signing key ${file} (${code ?? (error as Error).message})`);
  }
  console.log(`Created the signing key ${file} (Ed25519, PKCS#8 PEM, mode 0600).`);
}

runMain(main);
