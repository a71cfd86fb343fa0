import { SignJWT } from 'jose';
import { gatewayAssertionVerifier, gatewayAssertions } from './gateway-assertion';
import { generatePrivateKey, parsePublicKey, TOKEN_ALGORITHM, type PrivateKeyPair } from './keys';

const publicKeyOf = (pair: PrivateKeyPair) => parsePublicKey(JSON.stringify(pair.publicJwk), 'test');

describe('the gateway assertion', () => {
  it('is accepted by the subgraph it names, with the gateway key, and refused otherwise', async () => {
    const gateway = await generatePrivateKey();
    const impostor = await generatePrivateKey();
    const mint = gatewayAssertions(gateway);
    const profile = gatewayAssertionVerifier('profile', await publicKeyOf(gateway));
    const token = await mint('profile');
    expect(await profile(token)).toEqual({ ok: true });
    expect(await profile(await mint('payments'))).toMatchObject({ ok: false, reason: expect.stringMatching(/aud/) });
    expect(await profile(await gatewayAssertions(impostor)('profile'))).toMatchObject({ ok: false, reason: expect.stringMatching(/signature/) });
    expect(await profile(undefined)).toEqual({ ok: false, reason: 'no x-gateway-assertion header' });
    expect(await profile('not.a.token')).toMatchObject({ ok: false });
    // Signed by the gateway's key but not as the gateway: another issuer.
    const other = await new SignJWT({})
      .setProtectedHeader({ alg: TOKEN_ALGORITHM })
      .setIssuer('someone')
      .setAudience('profile')
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(gateway.privateKey);
    expect(await profile(other)).toMatchObject({ ok: false, reason: expect.stringMatching(/iss/) });
  });

  it('is reused for half its life, then renewed; an expired one is refused even once remembered', async () => {
    const gateway = await generatePrivateKey();
    let clock = Date.UTC(2026, 11, 1, 12);
    const now = () => clock;
    const mint = gatewayAssertions(gateway, now);
    const check = gatewayAssertionVerifier('auth', await publicKeyOf(gateway), now);
    const first = await mint('auth');
    expect(await check(first)).toEqual({ ok: true });
    clock += 149_000;
    expect(await mint('auth')).toBe(first);
    clock += 2_000;
    const second = await mint('auth');
    expect(second).not.toBe(first);
    clock += 150_000;
    expect(await check(first)).toMatchObject({ ok: false, reason: expect.stringMatching(/exp/) });
    expect(await check(second)).toEqual({ ok: true });
  });
});
