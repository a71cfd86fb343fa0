// `node scripts/dist/keys.js <folder>`: provisions a deployment's keys for containers, one folder per
// service so that each service can be given its own and nothing else: every service's key for its calls
// to the others (`<service>/internal-private.pem`, INTERNAL_PRIVATE_KEY_FILE), auth's token signing
// key (`auth/jwt-private.pem`, JWT_PRIVATE_KEY_FILE), the secret auth keys its throttle counters with
// (`auth/throttle-key-secret`, THROTTLE_KEY_SECRET_FILE) and the gateway's assertion key
// (`gateway/gateway-private.pem`, GATEWAY_PRIVATE_KEY_FILE), whose public half every subgraph is given
// (`<service>/gateway-public.pem`, GATEWAY_PUBLIC_KEY_FILE). Existing private keys and secrets are kept,
// so that tokens already issued stay valid and counters keep counting across restarts and re-runs; the
// public halves are written again.
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createPublicKey, randomBytes } from 'node:crypto';
import { exportPKCS8, generateKeyPair } from 'jose';
import { ConfigError, SERVICES, THROTTLE_SECRET_MIN_LENGTH, parsePrivateKey, runMain } from '@fedstack/runtime';

const USAGE = "usage: node scripts/dist/keys.js <folder> (writes each process's keys under <folder>/<service or gateway>/ unless they exist)";

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

/** 32 random bytes, as THROTTLE_KEY_SECRET takes them (43 characters, base64url). */
async function randomSecret(): Promise<string> {
  return randomBytes(32).toString('base64url');
}

async function main(): Promise<void> {
  const [target, ...extra] = process.argv.slice(2);
  if (!target || extra.length > 0) throw new ConfigError(USAGE);
  const root = path.resolve(target);
  const gatewayKey = path.join(root, 'gateway', 'gateway-private.pem');
  // As the services read theirs (runtime's parsePrivateKey): Ed25519, as PKCS#8 PEM or a JWK.
  const ed25519 = {
    make: ed25519Pem,
    kind: 'Ed25519, PKCS#8 PEM',
    valid: (text: string) =>
      parsePrivateKey(text, 'the key file').then(
        () => true,
        () => false,
      ),
  };
  const keys = [
    ...SERVICES.flatMap((service) => [
      { file: path.join(root, service, 'internal-private.pem'), what: `${service}'s internal API key`, ...ed25519 },
      ...(service === 'auth'
        ? [
            { file: path.join(root, service, 'jwt-private.pem'), what: "auth's token signing key", ...ed25519 },
            {
              file: path.join(root, service, 'throttle-key-secret'),
              what: "auth's throttle key secret",
              make: randomSecret,
              kind: '32 random bytes, base64url',
              // As auth takes it, once trimmed.
              valid: (text: string) => text.trim().length >= THROTTLE_SECRET_MIN_LENGTH,
            },
          ]
        : []),
    ]),
    { file: gatewayKey, what: "the gateway's assertion key", ...ed25519 },
  ];
  for (const { file, what, make, kind, valid } of keys) {
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
      throw new ConfigError(`cannot make the folder ${path.dirname(file)} (${error.code ?? error.message})`);
    });
    const created = await createOnce(file, await make());
    // A file cut short (an interrupted run, a copy gone wrong) is no key: said here, not at the service's start.
    if (!created && !(await valid(await readFile(file, 'utf8')))) {
      throw new ConfigError(`${file} holds no ${what} (${kind}): remove it for a new one to be made, or put the key there`);
    }
    console.log(created ? `Created ${what}: ${file} (${kind}, mode 0600).` : `Found ${what}: ${file}; kept it.`);
  }
  const gatewayPublic = createPublicKey(await readFile(gatewayKey, 'utf8'))
    .export({ type: 'spki', format: 'pem' })
    .toString();
  for (const service of SERVICES) {
    const file = path.join(root, service, 'gateway-public.pem');
    await writeFile(file, gatewayPublic, { mode: 0o644 });
    console.log(`Wrote the gateway's public key for ${service}: ${file}.`);
  }
}

runMain(main);
