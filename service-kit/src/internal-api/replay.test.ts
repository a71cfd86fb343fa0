import { randomUUID } from 'node:crypto';
import { parse } from 'graphql';
import { decodeJwt } from 'jose';
import { z } from 'zod';
import { loadServiceConfig } from '../config';
import { createSubgraphServer, type SubgraphServer } from '../server';
import { ISOLATED_PEERS, LogCapture, fakePeer, ownerSql } from '../testing';
import { EXPIRED_REMOVED_PER_CALL } from './replay';
import { command } from './routes';
import { internalIdentity, signCall } from './signing';

/**
 * A captured internal call sent again, as whoever captured it would (the same token, the same body), to
 * the process that took it and to another replica of the same service on the same database: both refuse
 * it, and the command runs once. Two servers of a small subgraph stand in for the replicas; admin, which
 * calls them, is a stand-in with a key of its own.
 */
describe('internal calls are taken once', () => {
  let peer: Awaited<ReturnType<typeof fakePeer>>;
  const replicas: { server: SubgraphServer<'profile'>; url: string; logs: LogCapture }[] = [];
  const noted: number[] = [];

  async function replica() {
    const logs = new LogCapture();
    const config = loadServiceConfig('profile', {
      ...process.env,
      ...ISOLATED_PEERS,
      ADMIN_SUBGRAPH_URL: `${peer.url}/graphql`,
      PROFILE_PORT: '0',
      LOG_LEVEL: 'info',
    });
    const server = await createSubgraphServer(
      {
        service: 'profile',
        typeDefs: parse('type Query { ping: String }'),
        resolvers: { Query: { ping: () => 'pong' } },
        context: (request) => request,
        internal: ({ db }) => ({
          commands: {
            // A write that waits (on a lock, a slow database) past its caller's wait before it commits.
            slowWrite: command({
              callers: ['admin'],
              input: z.object({ userId: z.uuid(), via: z.enum(['prisma', 'sql']) }),
              run: async ({ userId, via }) => {
                const write = `INSERT INTO profile.profiles (user_id, updated_at) SELECT $1::uuid, now() FROM pg_sleep(3)`;
                if (via === 'prisma') await db.$transaction((tx) => tx.$executeRawUnsafe(write, userId));
                else await db.sqlTransaction((tx) => tx.$executeRawUnsafe(write, userId));
                return userId;
              },
            }),
            note: command({
              callers: ['admin'],
              input: z.object({ n: z.number() }),
              run: async ({ n }) => {
                noted.push(n);
                return n;
              },
            }),
            // As a command does when its database is down.
            unreachable: command({
              callers: ['admin'],
              input: z.object({}),
              run: async () => {
                throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
              },
            }),
          },
        }),
      },
      { config, logDestination: logs, verifyToken: () => Promise.reject(new Error('no access tokens here')) },
    );
    return { server, url: await server.listen(), logs };
  }

  beforeAll(async () => {
    peer = await fakePeer('admin');
    replicas.push(await replica(), await replica());
  });
  afterAll(async () => {
    await Promise.all(replicas.map(({ server }) => server.stop()));
    await peer.close();
  });

  const PATH = '/internal/commands/note';
  /** Sends a call as it went over the wire, token and body as given. */
  const send = async (url: string, token: string, body: string) => {
    const response = await fetch(`${url}${PATH}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body });
    return { status: response.status, body: (await response.json()) as { result?: unknown; error?: { code: string } } };
  };

  it('refuses a replayed call, in the process that took it and in another replica, as 401, and logs it', async () => {
    const [first, second] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
    const body = JSON.stringify({ n: 1 });
    const token = await signCall(peer.identity, 'profile', PATH, body, 5000);
    expect(await send(first.url, token, body)).toEqual({ status: 200, body: { result: 1 } });
    const refused = { status: 401, body: { error: { code: 'UNAUTHENTICATED', message: 'Internal calls need a valid token signed by the calling service' } } };
    expect(await send(first.url, token, body)).toEqual(refused);
    expect(await send(second.url, token, body)).toEqual(refused);
    expect(noted).toEqual([1]);
    for (const { logs } of [first, second]) {
      expect(logs.lines.filter((line) => line.msg === 'refused a replayed internal call')).toEqual([
        expect.objectContaining({ level: 'warn', caller: 'admin', path: PATH }),
      ]);
    }

    // A fresh call, signed anew, is taken by either.
    for (const [index, { url }] of replicas.entries()) {
      const fresh = JSON.stringify({ n: 2 + index });
      expect(await send(url, await signCall(peer.identity, 'profile', PATH, fresh, 5000), fresh)).toEqual({ status: 200, body: { result: 2 + index } });
    }
    expect(noted).toEqual([1, 2, 3]);
  });

  it('refuses, as 401, a call that arrives after its caller stopped waiting for it, and runs nothing', async () => {
    const body = JSON.stringify({ n: 30 });
    // Signed for a wait that ended five seconds ago: as a call a hung host reads from its socket once it is back.
    const late = await signCall(peer.identity, 'profile', PATH, body, -5000);
    expect(await send(replicas[0]?.url ?? '', late, body)).toMatchObject({ status: 401 });
    expect(noted).not.toContain(30);
  });

  it('says in its log why it refused a call (the caller is told only that it was), once every few seconds per service that signed it, and once for calls anyone could have sent', async () => {
    const [, second] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
    const from = second.logs.lines.length;
    const body = JSON.stringify({ n: 50 });
    const forAnother = await signCall(peer.identity, 'profile', '/internal/commands/slowWrite', body, 5000);
    const late = await signCall(peer.identity, 'profile', PATH, body, -5000);
    // Naming admin, under a key admin does not publish: anyone could send it.
    const forged = await signCall({ ...(await internalIdentity('admin')), publicJwk: { kid: 'admin-nope' } }, 'profile', PATH, body, 5000);
    for (const token of [forged, forged, forAnother, late, 'garbage']) {
      expect(await send(second.url, token, body)).toEqual({
        status: 401,
        body: { error: { code: 'UNAUTHENTICATED', message: 'Internal calls need a valid token signed by the calling service' } },
      });
    }
    const lines = second.logs.lines.slice(from).filter((line) => line.msg === 'refused an internal call');
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'warn',
        claimedCaller: 'admin',
        path: PATH,
        reason: expect.stringMatching(/^it names a key \(kid admin-nope\) admin does not publish at \/internal\/jwks\.json: a forged token/),
        suppressed: 0,
      }),
      // The forgeries took nothing from admin's own: its refusal is said.
      expect.objectContaining({ level: 'warn', caller: 'admin', path: PATH, reason: 'signed for another path or body', suppressed: 0 }),
    ]);
    expect(lines[0]).not.toHaveProperty('caller');
    expect(noted).not.toContain(50);
  });

  it('answers 503 naming itself when its database cannot be reached (a 500 its callers passed on as "answered HTTP 500")', async () => {
    const path = '/internal/commands/unreachable';
    const token = await signCall(peer.identity, 'profile', path, '{}', 5000);
    const [first] = replicas as [(typeof replicas)[0]];
    const response = await fetch(`${first.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: '{}',
    });
    expect({ status: response.status, body: await response.json() }).toEqual({
      status: 503,
      body: { error: { code: 'SUBGRAPH_UNAVAILABLE', message: 'The profile service cannot reach its database at the moment; try again shortly' } },
    });
    expect(first.logs.lines.filter((line) => line.level === 'error')).toEqual([]);
  });

  it.each(['prisma', 'sql'])('does not commit (%s) what a command writes after its caller stopped waiting for it', async (via) => {
    const [first] = replicas as [(typeof replicas)[0]];
    const path = '/internal/commands/slowWrite';
    const userId = randomUUID();
    const body = JSON.stringify({ userId, via });
    // Its caller waits half a second; the write takes three.
    const token = await signCall(peer.identity, 'profile', path, body, 500);
    const response = await fetch(`${first.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body,
    });
    expect(response.status).toBe(504);
    expect(await ownerSql('SELECT user_id FROM profile.profiles WHERE user_id = $1', [userId])).toEqual([]);
    expect(first.logs.lines.some((line) => line.msg === 'internal command outlasted its caller’s wait: not done')).toBe(true);
  });

  it('answers 404 for a command named after an object property (constructor, toString), which no handler is', async () => {
    const [first] = replicas as [(typeof replicas)[0]];
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const path = `/internal/commands/${name}`;
      const token = await signCall(peer.identity, 'profile', path, '{}', 5000);
      const response = await fetch(`${first.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: '{}',
      });
      expect({ name, status: response.status }).toEqual({ name, status: 404 });
    }
  });

  it('takes a fresh call from a caller whose clock is a little ahead (its token issued, to the receiver, in the next second)', async () => {
    const body = JSON.stringify({ n: 40 });
    const now = Date.now();
    const clock = jest.spyOn(Date, 'now').mockReturnValue((Math.floor(now / 1000) + 1) * 1000);
    const token = await signCall(peer.identity, 'profile', PATH, body, 5000).finally(() => clock.mockRestore());
    expect(await send(replicas[0]?.url ?? '', token, body)).toEqual({ status: 200, body: { result: 40 } });
  });

  it('lets only one of two replicas take the same call sent to both at once', async () => {
    const body = JSON.stringify({ n: 10 });
    const token = await signCall(peer.identity, 'profile', PATH, body, 5000);
    const answers = await Promise.all(replicas.flatMap(({ url }) => [send(url, token, body), send(url, token, body)]));
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 401, 401, 401]);
    expect(noted.filter((n) => n === 10)).toHaveLength(1);
  });

  it('keeps the table bounded: each call taken removes a few ids whose tokens have expired, and none that have not', async () => {
    // Older than any token a test run has signed, so these go first.
    const expired = Array.from({ length: EXPIRED_REMOVED_PER_CALL + 2 }, () => randomUUID());
    await ownerSql(`INSERT INTO profile.internal_call_tokens (jti, expires_at) SELECT unnest($1::text[]), '2000-01-01Z'`, [expired]);
    const stored = async (ids: string[]) =>
      (await ownerSql<{ n: number }>('SELECT count(*)::int AS n FROM profile.internal_call_tokens WHERE jti = ANY($1)', [ids]))[0]?.n;
    const call = async (n: number) => {
      const body = JSON.stringify({ n });
      const token = await signCall(peer.identity, 'profile', PATH, body, 5000);
      expect(await send(replicas[0]?.url ?? '', token, body)).toMatchObject({ status: 200 });
      return decodeJwt(token).jti as string;
    };
    const taken = [await call(20)];
    // Another process on the same database may have pruned some as well, never fewer.
    expect(await stored(expired)).toBeLessThanOrEqual(expired.length - EXPIRED_REMOVED_PER_CALL);
    taken.push(await call(21));
    expect(await stored(expired)).toBe(0);
    expect(await stored(taken)).toBe(taken.length);
  });
});
