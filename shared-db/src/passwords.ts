// How passwords are stored in auth.password_credentials: argon2id at OWASP's minimum
// (19 MiB, 2 iterations, 1 lane), as a PHC string that carries its own parameters and salt.
// @node-rs/argon2 ships prebuilt binaries per platform, so nothing is compiled at install time.
import { randomBytes } from 'node:crypto';
import type * as Argon2 from '@node-rs/argon2';

let argon2: typeof Argon2 | undefined;

/**
 * @node-rs/argon2, loaded on the first hash (only auth and the seed hash passwords). Its allocator
 * (mimalloc, built in) keeps what a hash frees in the thread that hashed, and the thread pool's idle
 * threads never give it back: 19 MiB per hash and thread, about 150 MB of auth's memory for good after a
 * burst of logins. Purging at once (MIMALLOC_PURGE_DELAY=0, read when the module loads; an operator's own
 * value wins) gives it back, for about 8 ms more CPU per hash (docs/performance.md).
 */
function loadArgon2(): typeof Argon2 {
  if (!argon2) {
    process.env.MIMALLOC_PURGE_DELAY ??= '0';
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on demand, see above
    argon2 = require('@node-rs/argon2') as typeof Argon2;
  }
  return argon2;
}

/**
 * Loads argon2 now: a service that hashes or verifies passwords calls it at start, so that an install
 * without the module's binary for this platform fails there rather than at the first sign-in.
 */
export function loadPasswordHashing(): void {
  loadArgon2();
}

export const PASSWORD_HASH_OPTIONS = {
  // Algorithm.Argon2id: the enum's value, which a type-only import cannot name without loading the module.
  algorithm: 2 satisfies Argon2.Algorithm.Argon2id,
  memoryCost: 19 * 1024,
  timeCost: 2,
  parallelism: 1,
} as const;

export function hashPassword(password: string): Promise<string> {
  return loadArgon2().hash(password, PASSWORD_HASH_OPTIONS);
}

/**
 * A stored hash that no password matches: today's settings with a random salt and a random digest, in
 * the same PHC form. Verifying a password against it costs what verifying against a real hash costs,
 * which is what it is for (auth verifies unknown e-mails against one); making it costs nothing, where
 * hashing a random password at start cost auth 19 MiB of memory at its peak (docs/performance.md).
 */
export function unmatchableHash(): string {
  const { memoryCost, timeCost, parallelism } = PASSWORD_HASH_OPTIONS;
  const b64 = (bytes: number) => randomBytes(bytes).toString('base64').replace(/=+$/, '');
  return `$argon2id$v=19$m=${memoryCost},t=${timeCost},p=${parallelism}$${b64(16)}$${b64(32)}`;
}

/** False for a wrong password and for a hash that cannot be parsed; never throws for either. */
export async function verifyPassword(storedHash: string, password: string): Promise<boolean> {
  // Outside the try: a module that cannot load is a broken install, not a wrong password.
  const argon2 = loadArgon2();
  try {
    return await argon2.verify(storedHash, password);
  } catch {
    return false;
  }
}

/** True when a stored hash is not argon2id or was made with weaker settings than today's; it is redone at login. */
export function passwordNeedsRehash(storedHash: string): boolean {
  const match = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(storedHash);
  if (!match) return true;
  const [memory, time, lanes] = match.slice(1).map(Number) as [number, number, number];
  return memory < PASSWORD_HASH_OPTIONS.memoryCost || time < PASSWORD_HASH_OPTIONS.timeCost || lanes < PASSWORD_HASH_OPTIONS.parallelism;
}
