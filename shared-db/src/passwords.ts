// How passwords are stored in auth.password_credentials: argon2id at OWASP's minimum
// (19 MiB, 2 iterations, 1 lane), as a PHC string that carries its own parameters and salt.
// @node-rs/argon2 ships prebuilt binaries per platform, so nothing is compiled at install time.
import { Algorithm, hash, verify } from '@node-rs/argon2';

export const PASSWORD_HASH_OPTIONS = {
  algorithm: Algorithm.Argon2id,
  memoryCost: 19 * 1024,
  timeCost: 2,
  parallelism: 1,
} as const;

export function hashPassword(password: string): Promise<string> {
  return hash(password, PASSWORD_HASH_OPTIONS);
}

/** False for a wrong password and for a hash that cannot be parsed; never throws for either. */
export async function verifyPassword(storedHash: string, password: string): Promise<boolean> {
  try {
    return await verify(storedHash, password);
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
