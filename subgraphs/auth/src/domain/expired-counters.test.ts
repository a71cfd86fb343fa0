import { randomUUID } from 'node:crypto';
import { createLogger, pollUntil } from '@fedstack/runtime';
import { ISOLATED_PEERS, LogCapture, graphql, ownerQuery, testSigningKey } from '@fedstack/service-kit/testing';
import { loadAuthConfig } from '../config';
import { createAuthServer } from '../server';
import { expiredCounterSweep } from './expired-counters';

const authServer = async () => {
  const { privateKey } = await testSigningKey();
  return createAuthServer({ config: loadAuthConfig({ ...process.env, ...ISOLATED_PEERS, AUTH_PORT: '0', LOG_LEVEL: 'silent', JWT_PRIVATE_KEY: privateKey }) });
};

describe('the sweep of expired sign-in counters', () => {
  afterEach(() => jest.useRealTimers());

  it('deletes the counters that expired over an hour ago, and only those; a failure is a warning in the log', async () => {
    const server = await authServer();
    const prefix = `sweep-${randomUUID()}`;
    const logs = new LogCapture();
    const sweep = expiredCounterSweep(server.db, createLogger('auth', 'warn', logs), 20);
    try {
      await ownerQuery(
        'auth',
        `INSERT INTO auth.rate_limits (key, points, expire) VALUES
           ($1 || '-a-expired-61-minutes-ago', 1, now() - interval '61 minutes'),
           ($1 || '-b-expired-59-minutes-ago', 1, now() - interval '59 minutes'),
           ($1 || '-c-expires-later', 1, now() + interval '10 minutes'),
           ($1 || '-d-never-expires', 1, NULL)`,
        [prefix],
      );
      const kept = async () =>
        (await ownerQuery<{ key: string }>('auth', 'SELECT key FROM auth.rate_limits WHERE key LIKE $1 ORDER BY key', [`${prefix}%`])).map(({ key }) =>
          key.slice(prefix.length),
        );
      sweep.start();
      await pollUntil('the counter expired over an hour ago deleted', async () => ((await kept()).length === 3 ? true : undefined), {
        timeoutMs: 10_000,
        intervalMs: 20,
      });
      expect(await kept()).toEqual(['-b-expired-59-minutes-ago', '-c-expires-later', '-d-never-expires']);
      expect(logs.lines).toEqual([]);
      // The database away: one warning per sweep, in the service's log; the sweep goes on.
      await server.db.$disconnect();
      await logs.waitFor((line) => line.msg === 'expired sign-in counters not deleted; trying again at the next sweep');
    } finally {
      await sweep.stop();
      await server.stop();
    }
  });

  it("stops with auth: once the server has stopped, nothing sweeps over its ended client or writes outside the service's log", async () => {
    // Timers only: a sweep that outlived the server would run at its next interval.
    jest.useFakeTimers({ doNotFake: ['Date', 'hrtime', 'performance', 'nextTick', 'queueMicrotask', 'setImmediate', 'clearImmediate'] });
    const warn = jest.spyOn(console, 'warn');
    const server = await authServer();
    try {
      const url = `${await server.listen()}/graphql`;
      // A sign-in attempt, which sets the throttle up.
      const login = await graphql(url, 'mutation { login(input: { email: "nobody-swept@example.com", password: "any password at all" }) { accessToken } }');
      expect(login.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    } finally {
      await server.stop();
    }
    await jest.advanceTimersByTimeAsync(60 * 60_000);
    // What a sweep started would have done by now, on real time (a refused query takes a few turns).
    for (let turn = 0; turn < 20; turn += 1) await new Promise((resolve) => setImmediate(resolve));
    expect(warn).not.toHaveBeenCalled();
    warn.mockRestore();
  });
});
