import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { exportPKCS8, generateKeyPair } from 'jose';
import { ConfigError, SERVICES, runMain } from '@fedstack/runtime';

const USAGE = "usage: node scripts/dist/keys.js <folder> (writes each service's keys under <folder>/<service>/ unless they exist)";

/**
 * Writes `content` to `file` unless it exists: an exclusive create, so that two runs racing cannot replace
 * each other's key. True when it wrote the file.
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

async function ed25519Pem(): Promise<string> {
  const { privateKey } = await generateKeyPair('EdDSA', { extractable: true });
  return exportPKCS8(privateKey);
}

/**
 * `node scripts/dist/keys.js <folder>`: provisions a deployment's keys for containers, one folder per
 * service so that each service can be given its own and nothing else: every service's key for its calls
 * to the others (`<service>/internal-private.pem`, INTERNAL_PRIVATE_KEY_FILE) and auth's token signing
 * key (`auth/jwt-private.pem`, JWT_PRIVATE_KEY_FILE). Existing files are kept, so that tokens already
 * issued stay valid across restarts and re-runs.
 */
async function main(): Promise<void> {
  const [target, ...extra] = process.argv.slice(2);
  if (!target || extra.length > 0) throw new ConfigError(USAGE);
  const keys = SERVICES.flatMap((service) => [
    { file: path.join(path.resolve(target), service, 'internal-private.pem'), what: `${service}'s internal API key` },
    ...(service === 'auth' ? [{ file: path.join(path.resolve(target), service, 'jwt-private.pem'), what: "auth's token signing key" }] : []),
  ]);
  for (const { file, what } of keys) {
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const created = await createOnce(file, await ed25519Pem());
    console.log(created ? `Created ${what}: ${file} (Ed25519, PKCS#8 PEM, mode 0600).` : `Found ${what}: ${file}; kept it.`);
  }
}

runMain(main);
