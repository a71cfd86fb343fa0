import type { Fetcher } from '@apollo/utils.fetcher';
import { circuitBroken, type CircuitBrokenFetcher } from './breaker';
import { BufferedResponse } from './transport';

const made: CircuitBrokenFetcher[] = [];
afterEach(() => made.splice(0).forEach((breaker) => breaker.shutdown()));

/** A breaker over a subgraph that answers `status` with `body` (200 and `{}` until told otherwise), and a way to call through it. */
function breakerOver(errorPercent: number, resetMs = 100) {
  const subgraph = { status: 200, body: '{}', calls: 0 };
  const fetcher: Fetcher = async (url) => {
    subgraph.calls += 1;
    return new BufferedResponse(url, subgraph.status, new Headers(), subgraph.body);
  };
  const breaker = circuitBroken(fetcher, { minCalls: 5, errorPercent, resetMs }, () => undefined);
  made.push(breaker);
  const call = () =>
    breaker.fetch('http://profile/graphql', {}).then(
      (response) => response.status,
      () => 'refused',
    );
  const calls = async (count: number) => {
    for (let index = 0; index < count; index += 1) await call();
  };
  return { subgraph, breaker, call, calls };
}

describe('the circuit breaker', () => {
  it('forgets the failures that opened it once a trial call succeeds: a recovered subgraph is not cut off by its next failure', async () => {
    const { subgraph, breaker, call, calls } = breakerOver(50);
    subgraph.status = 503;
    await calls(5);
    expect(breaker.isOpen()).toBe(true);
    subgraph.status = 200;
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(await call()).toBe(200);
    subgraph.status = 500;
    await call();
    subgraph.status = 200;
    expect({ open: breaker.isOpen(), next: await call() }).toEqual({ open: false, next: 200 });
  });

  it('opens at the share of failures set: 60 % when three of five calls fail', async () => {
    const { subgraph, breaker, calls } = breakerOver(60, 10_000);
    await calls(2);
    subgraph.status = 503;
    await calls(3);
    expect(breaker.isOpen()).toBe(true);
  });

  it("opens when a subgraph answers 200 with what is no JSON object (a proxy's page), as for 5xx answers", async () => {
    const { subgraph, breaker, calls } = breakerOver(100, 10_000);
    subgraph.body = '<html>502 Bad Gateway</html>';
    await calls(20);
    expect({ open: breaker.isOpen(), reached: subgraph.calls }).toEqual({ open: true, reached: 5 });
  });

  it('opens at 100 % when every call fails', async () => {
    const { subgraph, breaker, calls } = breakerOver(100, 10_000);
    subgraph.status = 503;
    await calls(20);
    expect({ open: breaker.isOpen(), reached: subgraph.calls }).toEqual({ open: true, reached: 5 });
  });

  it('sorts no list of latencies on a failure, whatever the calls in its window', async () => {
    const { subgraph, calls } = breakerOver(60);
    await calls(2000);
    subgraph.status = 503;
    const sort = jest.spyOn(Array.prototype, 'sort');
    try {
      await calls(3);
      expect(sort).not.toHaveBeenCalled();
    } finally {
      sort.mockRestore();
    }
  });
});
