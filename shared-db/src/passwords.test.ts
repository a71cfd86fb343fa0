import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { verify } from '@node-rs/argon2';
import { hashPassword, passwordNeedsRehash, unmatchableHash, verifyPassword } from './passwords';
import type * as Passwords from './passwords';

describe('password storage', () => {
  it('hashes with argon2id at OWASP minimums and verifies only the right password', async () => {
    const stored = await hashPassword('correct horse battery staple');
    expect(stored).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await verifyPassword(stored, 'correct horse battery staple')).toBe(true);
    expect(await verifyPassword(stored, 'Correct horse battery staple')).toBe(false);
    expect(await verifyPassword('not a hash', 'anything')).toBe(false);
    expect(passwordNeedsRehash(stored)).toBe(false);
  });

  it('makes a hash no password matches that costs a verification what a real one costs, without hashing', async () => {
    const [real, unmatchable] = [await hashPassword('a real password'), unmatchableHash()];
    // The same settings, salt length and digest length: argon2 does the same work for either.
    const shape = (stored: string) => stored.split('$').map((part, index) => (index < 4 ? part : part.length));
    expect(shape(unmatchable)).toEqual(shape(real));
    expect(unmatchableHash()).not.toBe(unmatchable);
    // Parsed and computed, not refused as malformed (which verifyPassword would also answer false, at once).
    await expect(verify(unmatchable, 'a real password')).resolves.toBe(false);
    expect(passwordNeedsRehash(unmatchable)).toBe(false);
  });

  it('fails, rather than answering "wrong password", where argon2 cannot be loaded (an install without its binary)', async () => {
    let broken: typeof Passwords | undefined;
    jest.isolateModules(() => {
      jest.doMock('@node-rs/argon2', () => {
        throw new Error('no binary for this platform');
      });
      broken = jest.requireActual<typeof Passwords>('./passwords');
    });
    expect(() => broken?.loadPasswordHashing()).toThrow('no binary for this platform');
    await expect(broken?.verifyPassword(unmatchableHash(), 'a password')).rejects.toThrow('no binary for this platform');
  });

  it('asks for a rehash of weaker or foreign hashes', () => {
    expect(passwordNeedsRehash('$argon2id$v=19$m=4096,t=3,p=1$c2FsdA$aGFzaA')).toBe(true);
    expect(passwordNeedsRehash('$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA')).toBe(true);
    expect(passwordNeedsRehash('$2b$12$abcdefghijklmnopqrstuv')).toBe(true);
  });
});

describe('hashing memory', () => {
  it('is given back after a burst of hashes (argon2 otherwise keeps 19 MiB per thread pool thread for good)', () => {
    // In a process of its own (the build's module, as the services run it): what counts is the memory the
    // operating system sees, after hashes in every thread of the pool.
    const script = `
      const { hashPassword } = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'passwords.js'))});
      const rss = () => process.memoryUsage().rss / 1048576;
      (async () => {
        await hashPassword('warm-up password');
        const before = rss();
        await Promise.all(Array.from({ length: 8 }, (_, index) => hashPassword('burst password ' + index)));
        process.stdout.write(JSON.stringify({ grewMb: rss() - before }));
      })();`;
    const { grewMb } = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as { grewMb: number };
    expect(grewMb).toBeLessThan(30);
  });
});
