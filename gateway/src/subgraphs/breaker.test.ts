import type { Fetcher } from '@apollo/utils.fetcher';
import { circuitBroken } from './breaker';

/** A subgraph that never answers, behind a transport that gives up after `timeoutMs`. */
const hung =
  (timeoutMs: number): Fetcher =>
  () =>
    new Promise((_resolve, reject) => setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs));

describe('the circuit breaker around a subgraph', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it.each([1000, 10_000, 30_000])(
    'opens for clients that wait for each answer before asking again, when every call waits out a %i ms timeout',
    async (timeoutMs) => {
      const breaker = circuitBroken(hung(timeoutMs), { minCalls: 5, errorPercent: 50, resetMs: 10 * timeoutMs }, timeoutMs, () => undefined);
      try {
        // Three clients, each asking again once its answer came.
        const rounds: string[][] = [];
        for (let round = 0; round < 4; round += 1) {
          const answers = [1, 2, 3].map(() =>
            breaker.fetch('http://subgraph/graphql').then(
              () => 'answered',
              (error: Error & { code?: string }) => (error.code === 'EOPENBREAKER' ? 'refused at once' : 'timed out'),
            ),
          );
          await jest.advanceTimersByTimeAsync(timeoutMs);
          rounds.push(await Promise.all(answers));
        }
        expect(rounds[0]).toEqual(['timed out', 'timed out', 'timed out']);
        expect(rounds.slice(2)).toEqual([
          ['refused at once', 'refused at once', 'refused at once'],
          ['refused at once', 'refused at once', 'refused at once'],
        ]);
      } finally {
        breaker.shutdown();
      }
    },
  );
});
