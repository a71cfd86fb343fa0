// The gateway's links to its subgraphs, one per subgraph name for the life of the process (a reloaded
// supergraph gets the same ones): a keep-alive pool, a timeout, a circuit breaker, and their metrics.
import type { Fetcher } from '@apollo/utils.fetcher';
import { Gauge, Histogram, type Registry } from 'prom-client';
import type { Logger } from '@fedstack/runtime';
import { circuitBroken, type BreakerSettings, type CircuitBrokenFetcher } from './breaker';
import { subgraphAgent, subgraphTransport } from './transport';

export interface LinkSettings {
  /** Keep-alive connections per subgraph. */
  connections: number;
  /** Time one call may take, in milliseconds. */
  timeoutMs: number;
  /** The longest answer read from a subgraph, in bytes. */
  maxResponseBytes: number;
  breaker: BreakerSettings;
}

export function subgraphLinks(settings: LinkSettings, registry: Registry, logger: Logger) {
  const fetchDuration = new Histogram({
    name: 'subgraph_fetch_duration_seconds',
    help: 'Time each subgraph took to answer the gateway, by subgraph and outcome (ok; error: no answer, or a 5xx one; timeout)',
    labelNames: ['subgraph', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const circuitOpen = new Gauge({
    name: 'subgraph_circuit_open',
    help: 'Whether the gateway is refusing calls to a subgraph for now (1) after too many failed, or calling it (0)',
    labelNames: ['subgraph'] as const,
    registers: [registry],
    // A state, not an amount: the primary of several workers would add theirs up (2 with two workers open),
    // and "open" is any worker's circuit open.
    aggregator: 'max',
  });
  const links = new Map<string, { fetcher: CircuitBrokenFetcher; close(): Promise<void> }>();
  return {
    /** The link to `name`, made on first use. */
    fetcherFor(name: string): Fetcher {
      let link = links.get(name);
      if (!link) {
        const agent = subgraphAgent(settings.connections, settings.maxResponseBytes);
        const transport = subgraphTransport({
          agent,
          timeoutMs: settings.timeoutMs,
          onCall: (outcome, seconds) => fetchDuration.observe({ subgraph: name, outcome }, seconds),
        });
        circuitOpen.set({ subgraph: name }, 0);
        const fetcher = circuitBroken(transport, settings.breaker, (state) => {
          // Half open still refuses every call but one trial: for the gauge, still open.
          if (state !== 'halfOpen') circuitOpen.set({ subgraph: name }, state === 'open' ? 1 : 0);
          if (state === 'open')
            logger.warn({ subgraph: name, resetMs: settings.breaker.resetMs }, 'subgraph failing: calls to it are refused for now (circuit open)');
          else if (state === 'halfOpen') logger.info({ subgraph: name }, 'subgraph called again: the next call is a trial (circuit half open)');
          else logger.info({ subgraph: name }, 'subgraph answering again (circuit closed)');
        });
        link = {
          fetcher,
          async close() {
            fetcher.shutdown();
            await agent.close();
          },
        };
        links.set(name, link);
      }
      return link.fetcher.fetch;
    },
    async close(): Promise<void> {
      await Promise.all([...links.values()].map((link) => link.close()));
    },
  };
}
