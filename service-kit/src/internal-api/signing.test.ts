import { parse } from 'graphql';
import { loadServiceConfig } from '../config';
import { createSubgraphServer, type SubgraphServer } from '../server';
import { ISOLATED_PEERS, LogCapture, testSigningKey } from '../testing';
import { INTERNAL_JWKS_PATH } from './protocol';
import { internalCallVerifier, internalIdentity, signCall, type InternalIdentity } from './signing';

type Key = Awaited<ReturnType<typeof testSigningKey>>;

/**
 * A rotation of a service's internal key with two replicas behind one address, one already on the next
 * key: the service called reads the caller's keys from whichever replica its request reached, and must
 * take the calls of both.
 */
describe("a rotation of a service's internal key (INTERNAL_OTHER_PUBLIC_KEYS)", () => {
  const started: SubgraphServer<'profile'>[] = [];
  afterEach(() => Promise.all(started.splice(0).map((server) => server.stop())));

  /** A replica of profile on `key`, publishing `others` beside it; its base URL. */
  async function replica(key: Key, others?: string): Promise<string> {
    const env = {
      ...process.env,
      ...ISOLATED_PEERS,
      PROFILE_PORT: '0',
      INTERNAL_PRIVATE_KEY: key.privateKey,
      ...(others ? { INTERNAL_OTHER_PUBLIC_KEYS: others } : {}),
    };
    const server = await createSubgraphServer(
      { service: 'profile', typeDefs: parse('type Query { ping: String }'), resolvers: { Query: { ping: () => 'pong' } }, context: (request) => request },
      { config: loadServiceConfig('profile', env), logDestination: new LogCapture(), verifyToken: () => Promise.reject(new Error('no access tokens here')) },
    );
    started.push(server);
    return new URL(await server.listen()).origin;
  }

  /**
   * Four calls, signed in turn by each identity, as the service called (admin) takes them, reading the
   * caller's keys at `url`: true, or why it refused the call.
   */
  async function taken(url: string, signers: InternalIdentity[]): Promise<(true | string)[]> {
    const verify = internalCallVerifier('admin', { auth: '', profile: url, payments: '', admin: '' }, 5000);
    const answers: (true | string)[] = [];
    for (let call = 0; call < 4; call += 1) {
      const body = JSON.stringify({ call });
      const token = await signCall(signers[call % signers.length] as InternalIdentity, 'admin', '/internal/ping', body, 5000);
      const answer = await verify(`Bearer ${token}`, '/internal/ping', Buffer.from(body));
      answers.push('refused' in answer ? answer.refused : true);
    }
    return answers;
  }

  const signers = (keys: Key[]) => Promise.all(keys.map((key) => internalIdentity('profile', { privateKey: { value: key.privateKey, setting: 'test' } })));

  it('takes every call of replicas on the current and the next key, from whichever it reads the keys, when each publishes both', async () => {
    const [current, next] = [await testSigningKey(), await testSigningKey()];
    const replicas = [await replica(current, JSON.stringify(next.publicJwk)), await replica(next, JSON.stringify({ keys: [current.publicJwk] }))];
    for (const url of replicas) {
      const jwks = (await (await fetch(`${url}${INTERNAL_JWKS_PATH}`)).json()) as { keys: { kid: string }[] };
      expect(jwks.keys.map((key) => key.kid).sort()).toEqual([`profile-${current.publicJwk.kid}`, `profile-${next.publicJwk.kid}`].sort());
      expect(jwks.keys.some((key) => 'd' in key)).toBe(false);
      expect(await taken(url, await signers([current, next]))).toEqual([true, true, true, true]);
    }
  });

  it('refuses the calls of the replica on the next key where each publishes only its own (a rotation without the setting)', async () => {
    const [current, next] = [await testSigningKey(), await testSigningKey()];
    const url = await replica(current);
    await replica(next);
    const unpublished = expect.stringMatching(
      /^it names a key \(kid profile-test-[^)]+\) profile does not publish at \/internal\/jwks\.json: a forged token, or a replica/,
    );
    expect(await taken(url, await signers([current, next]))).toEqual([true, unpublished, true, unpublished]);
  });

  it('does not start on INTERNAL_OTHER_PUBLIC_KEYS holding a private key, naming it', async () => {
    const key = await testSigningKey();
    await expect(replica(key, key.privateKey)).rejects.toThrow(/^INTERNAL_OTHER_PUBLIC_KEYS holds a private key/);
  });
});
