import { EventEmitter } from 'node:events';
import { Counter, Registry } from 'prom-client';
import { createLogger } from '@fedstack/runtime';
import { WorkerMetrics, answerMetricRequests, type MetricsWorker } from './cluster-metrics';
import { subgraphLinks } from './subgraphs';
import { subscriptionMetrics } from './subscriptions/metrics';

// With GATEWAY_WORKERS > 1 the primary serves every worker's metrics, added up: what one scrape shows
// then. Workers here are in-process, on channels that stand for node:cluster's; the gateway-processes
// end-to-end test runs the real thing.

/** One worker's metrics as the gateway registers them (its links to the subgraphs, its subscriptions), and a request counter. */
function registries() {
  const registry = new Registry();
  registry.setDefaultLabels({ service: 'gateway' });
  const links = subgraphLinks(
    { connections: 2, timeoutMs: 1000, maxResponseBytes: 1_048_576, breaker: { minCalls: 1, errorPercent: 50, resetMs: 60_000 } },
    registry,
    createLogger('gateway', 'silent'),
  );
  const requests = new Counter({ name: 'graphql_requests_total', help: 'requests', registers: [registry] });
  return { registry, links, requests, subscriptions: subscriptionMetrics(registry) };
}

/** A cluster of in-process workers: each answers the primary's requests in JSON, as node:cluster's channel does. */
function fakeCluster() {
  const events = new EventEmitter();
  let nextId = 1;
  return {
    metrics: new WorkerMetrics(events, 300),
    /** A worker that has started listening. */
    listening(registry: Registry): MetricsWorker {
      const channel = new EventEmitter();
      const worker: MetricsWorker = {
        id: nextId++,
        process: { pid: 1000 + nextId },
        send(message, callback) {
          callback(null);
          channel.emit('message', message);
        },
      };
      answerMetricRequests(registry, {
        on: (event, listener) => channel.on(event, listener),
        send: (message) => events.emit('message', worker, JSON.parse(JSON.stringify(message))),
      });
      events.emit('listening', worker);
      return worker;
    },
    exit(worker: MetricsWorker) {
      events.emit('exit', worker);
    },
  };
}

const figure = (text: string, line: RegExp) => Number(text.match(line)?.[1]);
const REQUESTS = /^graphql_requests_total\{service="gateway"\} (\d+)$/m;
const SUBSCRIPTIONS = /^subscriptions_active\{field="paymentUpdated",service="gateway"\} (\d+)$/m;

describe("the gateway's metrics, added up over its workers", () => {
  const made: ReturnType<typeof registries>[] = [];
  const worker = () => {
    const one = registries();
    made.push(one);
    return one;
  };
  afterAll(() => Promise.all(made.map(({ links }) => links.close())));

  it('shows a circuit open as 1 whatever the number of workers that opened it, and adds up what adds up (open subscriptions)', async () => {
    const cluster = fakeCluster();
    for (const { registry, links, subscriptions } of [worker(), worker()]) {
      // Nothing listens on port 1: the call fails, and one failure opens this breaker.
      await expect(links.fetcherFor('profile')('http://127.0.0.1:1/graphql', { method: 'POST', body: '{}' })).rejects.toThrow();
      subscriptions.active('paymentUpdated');
      cluster.listening(registry);
    }
    const text = await cluster.metrics.metrics();
    expect(text).toMatch(/^subgraph_circuit_open\{subgraph="profile",service="gateway"\} 1$/m);
    expect(figure(text, SUBSCRIPTIONS)).toBe(2);
  });

  it("keeps an exited worker's counts in the sums, which never go down, and drops what it held open", async () => {
    const cluster = fakeCluster();
    const [first, second] = [worker(), worker()];
    first.requests.inc(5);
    second.requests.inc(7);
    first.subscriptions.active('paymentUpdated');
    second.subscriptions.active('paymentUpdated');
    const dying = cluster.listening(first.registry);
    cluster.listening(second.registry);
    expect(figure(await cluster.metrics.metrics(), REQUESTS)).toBe(12);

    // Counted after the last scrape, and lost with the worker: a scrape shows no more than it had.
    first.requests.inc(100);
    cluster.exit(dying);
    second.requests.inc(1);
    const afterExit = await cluster.metrics.metrics();
    expect({ requests: figure(afterExit, REQUESTS), subscriptions: figure(afterExit, SUBSCRIPTIONS) }).toEqual({ requests: 13, subscriptions: 1 });

    // Its replacement counts from zero, on top.
    const replacement = worker();
    replacement.requests.inc(2);
    cluster.listening(replacement.registry);
    expect(figure(await cluster.metrics.metrics(), REQUESTS)).toBe(15);
  });

  it('answers without a worker that does not answer in time, showing it as it last answered, and without one not yet listening', async () => {
    const cluster = fakeCluster();
    const [answering, hanging] = [worker(), worker()];
    answering.requests.inc(3);
    hanging.requests.inc(4);
    cluster.listening(answering.registry);
    // One still starting has served nothing and is not asked (prom-client's own support waited 5 s for it, then failed).
    worker();
    const hung = cluster.listening(hanging.registry);
    expect(figure(await cluster.metrics.metrics(), REQUESTS)).toBe(7);
    // Now silent: its last figures stand in for it once the wait is over.
    hung.send = (_message, callback) => callback(null);
    hanging.requests.inc(50);
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      expect(figure(await cluster.metrics.metrics(), REQUESTS)).toBe(7);
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(/^gateway worker \d+ gave no metrics within 300 ms: shown as it last gave them$/));
    } finally {
      warn.mockRestore();
    }
  });

  it('answers at once for a worker that exits while asked, and for one whose channel has closed', async () => {
    const cluster = fakeCluster();
    const [exiting, closed] = [worker(), worker()];
    exiting.requests.inc(1);
    closed.requests.inc(2);
    const gone = cluster.listening(exiting.registry);
    const shut = cluster.listening(closed.registry);
    expect(figure(await cluster.metrics.metrics(), REQUESTS)).toBe(3);
    gone.send = () => undefined;
    shut.send = (_message, callback) => callback(new Error('channel closed'));
    const started = Date.now();
    const scrape = cluster.metrics.metrics();
    cluster.exit(gone);
    expect(figure(await scrape, REQUESTS)).toBe(3);
    expect(Date.now() - started).toBeLessThan(300);
  });
});
