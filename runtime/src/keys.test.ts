import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { developmentSecret, keysBeside, parsePrivateKey, parsePublicJwks } from './keys';

describe('development secrets', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'fedstack-secrets-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('are made once, whoever races, and kept private without closing the folders above them', async () => {
    const file = path.join(root, '.data', 'keys', 'secret');
    let made = 0;
    const make = async () => `secret-${(made += 1)}`.padEnd(4 * 1024 * 1024, '.');
    // 4 MiB is written in several chunks, so a racer that read the file while another wrote it would see
    // part of it. Every racer must read a whole secret, never the empty or half-written file another is making.
    const seen: string[] = [];
    const parse = (text: string) => {
      seen.push(text);
      return text;
    };
    const read = () => developmentSecret(file, make, parse, 'test secret');
    const answers = await Promise.all(Array.from({ length: 16 }, read));
    expect(new Set(answers).size).toBe(1);
    expect(seen.every((text) => text.length === 4 * 1024 * 1024)).toBe(true);
    expect(await read()).toBe(answers[0]);
    expect(readdirSync(path.dirname(file))).toEqual(['secret']);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    // .data also holds the embedded server's data, which PostgreSQL's own system user must reach.
    expect(statSync(path.join(root, '.data')).mode & 0o055).not.toBe(0);
  });
});

describe('public keys to publish (parsePublicJwks)', () => {
  const pair = () => generateKeyPairSync('ed25519');
  const pem = (key: ReturnType<typeof pair>['publicKey' | 'privateKey']) =>
    key.export({ format: 'pem', type: key.type === 'public' ? 'spki' : 'pkcs8' }).toString();

  it("gives a PEM key the kid a signer on its private half uses, and keeps a JWK Set's kids", async () => {
    const { publicKey, privateKey } = pair();
    const signer = await parsePrivateKey(pem(privateKey), 'SIGNING');
    expect(await parsePublicJwks(pem(publicKey), 'KEYS')).toEqual([{ ...signer.publicJwk }]);
    const other = pair().publicKey.export({ format: 'jwk' });
    const set = JSON.stringify({
      keys: [
        { ...signer.publicJwk, kid: 'current' },
        { ...other, kid: 'next' },
      ],
    });
    expect((await parsePublicJwks(set, 'KEYS')).map((jwk) => [jwk.kid, jwk.x])).toEqual([
      ['current', signer.publicJwk.x],
      ['next', other.x],
    ]);
  });

  it.each([
    [
      'a private key, which would be published',
      (key: ReturnType<typeof pair>) => JSON.stringify(key.privateKey.export({ format: 'jwk' })),
      /^KEYS holds a private key \(key 1\)/,
    ],
    [
      'a private key in a set',
      (key: ReturnType<typeof pair>) => JSON.stringify({ keys: [key.publicKey.export({ format: 'jwk' }), key.privateKey.export({ format: 'jwk' })] }),
      /^KEYS holds a private key \(key 2\)/,
    ],
    ['a private PEM', (key: ReturnType<typeof pair>) => pem(key.privateKey), /^KEYS is not Ed25519 public keys/],
    ['an empty set', () => '{"keys":[]}', /^KEYS is not Ed25519 public keys as PEM, JWK or JWK Set \(no key\)/],
    ['not a key', () => 'garbage', /^KEYS is not Ed25519 public keys as PEM, JWK or JWK Set/],
    [
      'an RSA key',
      () => JSON.stringify(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' })),
      /^KEYS is not Ed25519 public keys.*key 1/,
    ],
  ])('refuses %s, naming the setting', async (_label, value, message) => {
    await expect(parsePublicJwks(value(pair()), 'KEYS')).rejects.toThrow(message);
  });
});

describe('keys to publish beside the one a process signs with (keysBeside)', () => {
  const publicJwk = () => ({ ...generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }), kid: 'main' });

  it('leaves out its own key listed again, and gives the others the kids a signer on them uses', async () => {
    const own = { ...publicJwk(), kid: 'profile-main' };
    const next = { ...publicJwk(), kid: 'next' };
    const published = await keysBeside(own, JSON.stringify({ keys: [{ ...own, kid: 'main' }, next] }), 'KEYS', (kid) => `profile-${kid}`);
    expect(published.map((jwk) => [jwk.kid, jwk.x])).toEqual([['profile-next', next.x]]);
  });

  it.each([
    [
      'another key under its own kid (the rotation would not work: tokens name one kid for two keys)',
      () => JSON.stringify(publicJwk()),
      /^KEYS holds another key under the kid of the key this process signs with \(main\)/,
    ],
    [
      'two keys under one kid',
      () =>
        JSON.stringify({
          keys: [
            { ...publicJwk(), kid: 'next' },
            { ...publicJwk(), kid: 'next' },
          ],
        }),
      /^KEYS holds two keys with kid next/,
    ],
  ])('refuses %s', async (_label, value, message) => {
    await expect(keysBeside(publicJwk(), value(), 'KEYS')).rejects.toThrow(message);
  });
});
