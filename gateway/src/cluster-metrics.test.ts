import { AggregatorRegistry, Registry } from 'prom-client';
import { createLogger } from '@fedstack/runtime';
import { subgraphLinks } from './subgraphs';
import { subscriptionMetrics } from './subscriptions/metrics';

// With GATEWAY_WORKERS > 1 the primary serves every worker's metrics, combined by prom-client's cluster
// aggregation (AggregatorRegistry.aggregate, as clusterMetrics() calls it): what one scrape shows then.

/** One worker's metrics as the gateway registers them: its links to the subgraphs and its subscriptions. */
function worker() {
  const registry = new Registry();
  registry.setDefaultLabels({ service: 'gateway' });
  const links = subgraphLinks(
    { connections: 2, timeoutMs: 1000, breaker: { minCalls: 1, errorPercent: 50, resetMs: 60_000 } },
    registry,
    createLogger('gateway', 'silent'),
  );
  return { registry, links, subscriptions: subscriptionMetrics(registry) };
}

describe("the gateway's metrics, combined over its workers", () => {
  const workers = [worker(), worker()];
  afterAll(() => Promise.all(workers.map(({ links }) => links.close())));

  it('shows a circuit open as 1 whatever the number of workers that opened it, and adds up what adds up (open subscriptions)', async () => {
    for (const { links, subscriptions } of workers) {
      // Nothing listens on port 1: the call fails, and one failure opens this breaker.
      await expect(links.fetcherFor('profile')('http://127.0.0.1:1/graphql', { method: 'POST', body: '{}' })).rejects.toThrow();
      subscriptions.active('paymentUpdated');
    }
    const combined = AggregatorRegistry.aggregate(await Promise.all(workers.map(({ registry }) => registry.getMetricsAsJSON())));
    const text = await combined.metrics();
    expect(text).toMatch(/^subgraph_circuit_open\{subgraph="profile",service="gateway"\} 1$/m);
    expect(text).toMatch(/^subscriptions_active\{field="paymentUpdated",service="gateway"\} 2$/m);
  });
});
