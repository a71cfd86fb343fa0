import { createLogger } from '@fedstack/runtime';
import { subgraphFailureLog } from './failure-log';

describe("the log of why a subgraph's calls failed", () => {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('gateway', 'info', { write: (chunk: string) => void lines.push(JSON.parse(chunk) as Record<string, unknown>) });
  let clock = 0;
  const log = subgraphFailureLog(logger, 5000, () => clock);
  const refused = () => Object.assign(new Error('connect ECONNREFUSED 10.0.0.7:4002'), { code: 'ECONNREFUSED' });

  it('writes one warning per subgraph every few seconds, with the cause, then says how many it left out', () => {
    log('profile', refused(), 'r-1');
    clock = 1000;
    log('profile', refused(), 'r-2');
    log('payments', new Error('getaddrinfo ENOTFOUND payments'), 'r-3');
    clock = 4999;
    log('profile', refused(), 'r-4');
    clock = 5000;
    log('profile', refused(), 'r-5');
    clock = 10_001;
    log('profile', refused(), 'r-6');
    expect(lines.map(({ level, msg, subgraph, requestId, suppressed, err }) => ({ level, msg, subgraph, requestId, suppressed, err }))).toEqual([
      {
        level: 'warn',
        msg: 'a call to a subgraph got no answer',
        subgraph: 'profile',
        requestId: 'r-1',
        suppressed: undefined,
        err: expect.objectContaining({ message: 'connect ECONNREFUSED 10.0.0.7:4002', code: 'ECONNREFUSED' }),
      },
      expect.objectContaining({ subgraph: 'payments', requestId: 'r-3', err: expect.objectContaining({ message: 'getaddrinfo ENOTFOUND payments' }) }),
      expect.objectContaining({ subgraph: 'profile', requestId: 'r-5', suppressed: 2 }),
      expect.objectContaining({ subgraph: 'profile', requestId: 'r-6', suppressed: undefined }),
    ]);
  });
});
