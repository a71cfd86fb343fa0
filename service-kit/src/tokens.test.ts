import { randomUUID } from 'node:crypto';
import { SignJWT, generateKeyPair, type CryptoKey } from 'jose';
import { AppError, TOKEN_ALGORITHM } from '@fedstack/runtime';
import { createTokenVerifier } from './tokens';

let keys: { privateKey: CryptoKey; publicKey: CryptoKey };
beforeAll(async () => {
  keys = await generateKeyPair(TOKEN_ALGORITHM);
});
afterEach(() => jest.useRealTimers());

const mint = (expiresIn: string) =>
  new SignJWT({ role: 'USER', sid: randomUUID() })
    .setProtectedHeader({ alg: TOKEN_ALGORITHM })
    .setIssuer('fedstack-auth')
    .setAudience('fedstack')
    .setSubject(randomUUID())
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(keys.privateKey);

/** A verifier whose key is fetched, as from a key set, on every signature check: the calls count the checks. */
function countingVerifier() {
  const counter = { checks: 0 };
  const verify = createTokenVerifier({
    key: () => {
      counter.checks += 1;
      return keys.publicKey;
    },
    issuer: 'fedstack-auth',
    audience: 'fedstack',
  });
  return { verify, counter };
}

describe('createTokenVerifier', () => {
  it("checks a token's signature once, then answers from memory", async () => {
    const { verify, counter } = countingVerifier();
    const token = await mint('15m');
    const first = await verify(token);
    expect(await verify(token)).toEqual(first);
    expect(await verify(token)).toEqual(first);
    expect(counter.checks).toBe(1);
  });

  it('refuses a remembered token once it expires, as it refuses a new one', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    const { verify } = countingVerifier();
    const token = await mint('2s');
    await verify(token);
    jest.advanceTimersByTime(3000);
    await expect(verify(token)).rejects.toThrow('Access token expired');
  });

  it('remembers nothing about a token that fails, nor about a changed one', async () => {
    const { verify, counter } = countingVerifier();
    const token = await mint('15m');
    const [head, body, signature] = token.split('.') as [string, string, string];
    const forged = `${head}.${body}.${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`;
    await expect(verify(forged)).rejects.toBeInstanceOf(AppError);
    await expect(verify(forged)).rejects.toBeInstanceOf(AppError);
    await verify(token);
    expect(counter.checks).toBe(3);
  });
});
