import { hashPassword, passwordNeedsRehash, verifyPassword } from './passwords';

describe('password storage', () => {
  it('hashes with argon2id at OWASP minimums and verifies only the right password', async () => {
    const stored = await hashPassword('correct horse battery staple');
    expect(stored).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await verifyPassword(stored, 'correct horse battery staple')).toBe(true);
    expect(await verifyPassword(stored, 'Correct horse battery staple')).toBe(false);
    expect(await verifyPassword('not a hash', 'anything')).toBe(false);
    expect(passwordNeedsRehash(stored)).toBe(false);
  });

  it('asks for a rehash of weaker or foreign hashes', () => {
    expect(passwordNeedsRehash('$argon2id$v=19$m=4096,t=3,p=1$c2FsdA$aGFzaA')).toBe(true);
    expect(passwordNeedsRehash('$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA')).toBe(true);
    expect(passwordNeedsRehash('$2b$12$abcdefghijklmnopqrstuv')).toBe(true);
  });
});
