import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pollUntil } from '@fedstack/runtime';
import type { SubgraphServer } from '@fedstack/service-kit';
import { LogCapture, graphql, testTokens, ownerSql as sql } from '@fedstack/service-kit/testing';
import { loadAdminConfig } from './config';
import { createAdminServer } from './server';

/** How auth, profile and payments answer admin's erase command: not at all (503), erasing their part, or auth refusing the admin who asked. */
type Answering = 'down' | 'up' | 'actor-refused';

/** How the stand-ins answer: each as `answering` says unless `only` says otherwise for it; and how often each was asked whether it is ready. */
interface StandInState {
  answering: Answering;
  only: Partial<Record<string, Answering>>;
  readinessAsked: Record<string, number>;
  /** The commands sent, each as the service and the user erased; and how long each service takes to answer one (none by default). */
  commands: string[];
  slow: Partial<Record<string, number>>;
}

/** A stand-in for `service`'s internal API, answering every command (and readiness) as `state` says, and counting the questions of readiness. */
function standIn(service: string, state: StandInState): Server {
  return createServer((req, res) => {
    const answer = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const answering = state.only[service] ?? state.answering;
      if (req.url === '/readyz') {
        state.readinessAsked[service] = (state.readinessAsked[service] ?? 0) + 1;
        return answer(answering === 'up' ? 200 : 503, {});
      }
      if (answering === 'down') return answer(503, { error: { message: 'down for a deploy' } });
      if (answering === 'actor-refused') return answer(403, { error: { code: 'FORBIDDEN', message: 'This account is no longer an active admin' } });
      const { userId } = JSON.parse(body) as { userId: string };
      state.commands.push(`${service} ${userId}`);
      const erasedAt = new Date().toISOString();
      const erased = { result: { alreadyErased: false, erasedAt, changes: [], account: { userId, version: 2, role: 'USER', status: 'SUSPENDED', erasedAt } } };
      setTimeout(() => answer(200, erased), state.slow[service] ?? 0);
    });
  });
}

/**
 * The erasure saga against stand-ins for the services it asks, for what the worker does with an erasure an
 * admin was told would finish by itself.
 */
describe('an erasure the worker finishes', () => {
  const state: StandInState = { answering: 'down', only: {}, readinessAsked: {}, commands: [], slow: {} };
  const servers: Server[] = [];
  const logs = new LogCapture();
  let admin: SubgraphServer<'admin'>;
  let url: string;
  let tokens: Awaited<ReturnType<typeof testTokens>>;

  beforeAll(async () => {
    tokens = await testTokens();
    const env: NodeJS.ProcessEnv = { ...process.env, ...tokens.env, LOG_LEVEL: 'info', ADMIN_PORT: '0' };
    for (const service of ['AUTH', 'PROFILE', 'PAYMENTS']) {
      const server = standIn(service.toLowerCase(), state);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      servers.push(server);
      env[`${service}_SUBGRAPH_URL`] = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
    }
    admin = await createAdminServer({ config: loadAdminConfig(env), logDestination: logs });
    url = `${await admin.listen()}/graphql`;
  });
  afterAll(async () => {
    await admin?.stop();
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  });
  beforeEach(() => {
    state.answering = 'down';
    state.only = {};
    state.slow = {};
  });
  /** Resolves once `service` has been asked whether it is ready since now. */
  const askedReadiness = (service: string) => {
    const asked = state.readinessAsked[service] ?? 0;
    return pollUntil(`${service} asked whether it is ready`, () => (state.readinessAsked[service] ?? 0) > asked, { timeoutMs: 10_000 });
  };
  /** When a request is next due, in seconds from now. */
  const dueIn = async (userId: string) =>
    (
      await sql<{ seconds: number }>(`SELECT extract(epoch FROM lease_until - now())::float8 AS seconds FROM admin.erasure_requests WHERE user_id = $1`, [
        userId,
      ])
    )[0]?.seconds;

  const erase = async (userId: string, adminId: string) =>
    graphql(url, 'mutation ($id: ID!) { eraseUser(userId: $id) { userId alreadyErased } }', {
      token: await tokens.mint({ userId: adminId, role: 'ADMIN' }),
      variables: { id: userId },
    });
  const request = async (userId: string) =>
    (
      await sql<{ attempts: number; parked: boolean; completed: boolean; error: string | null }>(
        `SELECT attempts, parked_at IS NOT NULL AS parked, completed_at IS NOT NULL AS completed, last_error AS error FROM admin.erasure_requests WHERE user_id = $1`,
        [userId],
      )
    )[0];
  /** The request's wait for its next attempt over: the worker takes it at its next poll. */
  const due = (userId: string) => sql(`UPDATE admin.erasure_requests SET lease_until = now() WHERE user_id = $1`, [userId]);

  it('parks, and says so, an erasure that auth refuses once the admin who asked has lost the right, rather than drop it unheard', async () => {
    const userId = randomUUID();
    const asked = await erase(userId, randomUUID());
    expect(asked.errors?.[0]?.message).toContain('it will finish by itself once it can');
    state.answering = 'actor-refused';
    await due(userId);
    const parked = await pollUntil('the request parked', async () => ((await request(userId))?.parked ? request(userId) : undefined), { timeoutMs: 20_000 });
    expect(parked).toMatchObject({ completed: false, error: expect.stringContaining('no longer an active admin') });
    expect(logs.lines).toContainEqual(expect.objectContaining({ level: 'error', userId, msg: 'background job refused; parked for an operator' }));
  });

  it('finishes an interrupted erasure as soon as the service it waits for is back, not when its grown wait runs out', async () => {
    const userId = randomUUID();
    const asked = await erase(userId, randomUUID());
    expect(asked.errors?.[0]?.message).toContain('it will finish by itself once it can');
    // As after a long outage: the next attempt minutes away (ERASURE_MAX_BACKOFF_MS).
    await sql(`UPDATE admin.erasure_requests SET lease_until = now() + interval '10 minutes' WHERE user_id = $1`, [userId]);
    // Admin has found auth, the first it asks, still down since.
    await askedReadiness('auth');
    state.answering = 'up';
    expect(
      await pollUntil('the erasure completed', async () => ((await request(userId))?.completed ? request(userId) : undefined), { timeoutMs: 20_000 }),
    ).toMatchObject({ parked: false, completed: true });
  });

  it('leaves an erasure waiting for another service when one comes back (each attempt on it used one of its allowance)', async () => {
    // One erasure waits for payments, the last it asks; another for auth.
    state.only = { auth: 'up', profile: 'up' };
    const forPayments = randomUUID();
    await erase(forPayments, randomUUID());
    await sql(`UPDATE admin.erasure_requests SET lease_until = now() + interval '10 minutes' WHERE user_id = $1`, [forPayments]);
    state.only = { auth: 'down' };
    const forAuth = randomUUID();
    await erase(forAuth, randomUUID());
    await sql(`UPDATE admin.erasure_requests SET lease_until = now() + interval '10 minutes' WHERE user_id = $1`, [forAuth]);
    await askedReadiness('auth');
    // auth back: the erasure waiting for it is tried at once (and waits for payments now); the other still waits its turn.
    state.only = { auth: 'up', profile: 'up' };
    await pollUntil('the erasure that waited for auth tried again', async () => ((await request(forAuth))?.attempts ?? 0) > 1, { timeoutMs: 10_000 });
    expect({ attempts: (await request(forPayments))?.attempts, minutesAway: Math.round(((await dueIn(forPayments)) ?? 0) / 60) }).toEqual({
      attempts: 1,
      minutesAway: 10,
    });
  });

  it("runs an erasure its admin asks for again, as auth comes back, once: auth back hurries no attempt under way (it was answered 'already erased')", async () => {
    const [userId, adminId] = [randomUUID(), randomUUID()];
    await erase(userId, adminId);
    await sql(`UPDATE admin.erasure_requests SET lease_until = now() + interval '10 minutes' WHERE user_id = $1`, [userId]);
    await askedReadiness('auth');
    // Asked again while auth is not yet ready: auth takes the command (slowly), and says it is ready meanwhile.
    state.only = { auth: 'up' };
    state.answering = 'up';
    state.slow = { auth: 1500 };
    const again = erase(userId, adminId);
    await askedReadiness('auth');
    type Report = { eraseUser: { alreadyErased: boolean } };
    expect(((await again) as { data?: Report }).data?.eraseUser.alreadyErased).toBe(false);
    expect(state.commands.filter((command) => command === `auth ${userId}`)).toHaveLength(1);
  });

  it('gives an unfinished erasure that an admin asks for again a fresh allowance, so that it finishes by itself as the admin is told', async () => {
    const userId = randomUUID();
    const adminId = randomUUID();
    // Tried 199 times of ERASURE_MAX_ATTEMPTS (200), waiting for its next attempt: not parked.
    await sql(`INSERT INTO admin.erasure_requests (user_id, requested_by, lease_until, attempts) VALUES ($1, $2, now() + interval '5 minutes', 199)`, [
      userId,
      adminId,
    ]);
    const asked = await erase(userId, adminId);
    expect(asked.errors?.[0]?.message).toContain('it will finish by itself once it can');
    expect(await request(userId)).toMatchObject({ attempts: 1, parked: false });
    state.answering = 'up';
    await due(userId);
    expect(
      await pollUntil('the erasure completed', async () => ((await request(userId))?.completed ? request(userId) : undefined), { timeoutMs: 20_000 }),
    ).toMatchObject({ parked: false, completed: true });
  });
});
