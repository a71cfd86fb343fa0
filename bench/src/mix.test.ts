import { WAL_POSITIONS_HEADER } from '@fedstack/runtime';
import { MIX, requests, type Tokens } from './mix';

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
