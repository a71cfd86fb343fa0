import { randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import { WAL_POSITIONS_HEADER } from '@fedstack/runtime';
import { testSigningKey } from '@fedstack/service-kit/testing';
import { GATEWAY_ONLY, MIX, requests, signedIn, type Tokens } from './mix';
import { MAX_CONNECTIONS } from './settings';

const tokens: Tokens = { users: ['alice', 'bob', 'carol'], admin: 'admin' };

describe('requests carrying positions', () => {
  /** The next `count` requests, each told an answer with the headers `answer` gives for it. */
  function drive(next: ReturnType<typeof requests>, count: number, answer: (user: string) => Record<string, string>) {
    return Array.from({ length: count }, () => {
      const request = next();
      const user = request.headers.authorization?.replace('Bearer ', '') as string;
      request.answered?.(answer(user));
      return { user, sent: request.headers[WAL_POSITIONS_HEADER] };
    });
  }

  it("sends each user's last positions back with its next request, and no one else's", () => {
    const sent = drive(requests(MIX, tokens, { carryPositions: true }), 60, (user): Record<string, string> =>
      user === 'bob' ? { [WAL_POSITIONS_HEADER]: 'payments=0/100' } : {},
    );
    const byUser = (user: string) => sent.filter((request) => request.user === user);
    expect(byUser('bob')[0]?.sent).toBeUndefined();
    expect(byUser('bob').slice(1).length).toBeGreaterThan(0);
    for (const request of byUser('bob').slice(1)) expect(request.sent).toBe('payments=0/100');
    // Answers that arrive out of order leave the furthest position of each service.
    const next = requests(MIX, { users: ['dave'], admin: 'admin' }, { carryPositions: true });
    for (const given of ['payments=0/3000060, auth=1/0', 'payments=0/2FFFFFF, profile=0/10']) next().answered?.({ [WAL_POSITIONS_HEADER]: given });
    expect(next().headers[WAL_POSITIONS_HEADER]).toBe('payments=0/3000060, auth=1/0, profile=0/10');
    for (const user of ['alice', 'carol', 'admin']) for (const request of byUser(user)) expect(request.sent).toBeUndefined();
  });

  it('with everyOperation, takes each user through every operation of the mix, not one kind only', () => {
    const twenty: Tokens = { users: Array.from({ length: 20 }, (_, index) => `user${index}`), admin: 'admin' };
    const operations = (options: Parameters<typeof requests>[2]) => {
      const next = requests(MIX, twenty, options);
      const seen = new Map<string, Set<string>>();
      for (let index = 0; index < 400; index += 1) {
        const request = next();
        const user = request.headers.authorization as string;
        seen.set(user, (seen.get(user) ?? new Set()).add((JSON.parse(request.body) as { query: string }).query.split('(')[0] as string));
      }
      seen.delete('Bearer admin');
      return [...seen.values()].map((kinds) => kinds.size);
    };
    expect(Math.max(...operations({}))).toBe(1);
    expect(Math.min(...operations({ everyOperation: true }))).toBe(4);
  });

  it('sends none, and listens to no answer, without carryPositions', () => {
    const next = requests(MIX, tokens);
    for (let index = 0; index < 20; index += 1) {
      const request = next();
      expect(request.answered).toBeUndefined();
      expect(request.headers[WAL_POSITIONS_HEADER]).toBeUndefined();
    }
  });
});

describe('requests in flight together', () => {
  const many: Tokens = { users: Array.from({ length: 300 }, (_, index) => `user${index}`), admin: 'admin' };
  /** Whether any two of `count` requests in a row are the same (token and body). */
  const twins = (next: ReturnType<typeof requests>, count: number) => {
    const sent = Array.from({ length: 2000 }, () => {
      const request = next();
      return `${request.headers.authorization} ${request.body}`;
    });
    return sent.some((_, start) => new Set(sent.slice(start, start + count)).size < Math.min(count, sent.length - start));
  };

  // An answer slower than the others is still in flight while requests after it go out: at 81 connections
  // and 81 admin-list variants, one in the next 81 was never the same, yet 44 % of the admin-list row's
  // requests had their twin in flight (simulated with its tail, p99 2.65× p50).
  const apart = 4 * MAX_CONNECTIONS;

  it('are never the same within 4 × the most connections the settings allow, in the mix, a row of one of its entries, or a gateway-only row', () => {
    expect(twins(requests(MIX, many), apart)).toBe(false);
    for (const entry of [...MIX, ...GATEWAY_ONLY])
      expect({ row: entry.name, twins: twins(requests([{ ...entry, inTwenty: 1 }], many), apart) }).toEqual({ row: entry.name, twins: false });
  });
});

describe('tokens for a run', () => {
  afterEach(() => jest.useRealTimers());

  it("are an admin's and each user's, signed anew in place every half hour: a run outlasts a token (2 h)", async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    const key = await testSigningKey();
    const session = () => ({ userId: randomUUID(), sessionId: randomUUID() });
    const tokens = await signedIn(key.privateKey, [session(), session()], session());
    try {
      const claims = (token: string) => decodeJwt(token);
      expect([claims(tokens.admin).role, ...tokens.users.map((token) => claims(token).role)]).toEqual(['ADMIN', 'USER', 'USER']);
      const first = { admin: tokens.admin, users: [...tokens.users] };
      await jest.advanceTimersByTimeAsync(30 * 60_000);
      // Signing runs on the thread pool, outside the faked clock.
      for (let turn = 0; turn < 10_000 && tokens.admin === first.admin; turn += 1) await new Promise((resolve) => setImmediate(resolve));
      expect(tokens.users.every((token, index) => token !== first.users[index])).toBe(true);
      expect(claims(tokens.admin).exp).toBeGreaterThan(claims(first.admin).exp as number);
    } finally {
      tokens.stop();
    }
  });
});
