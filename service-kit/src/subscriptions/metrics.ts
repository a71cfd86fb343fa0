// What a subgraph's subscriptions are doing, for /metrics: live ones, whether events are heard, events sent, and why subscriptions were ended.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { LiveHub } from './hub';

export interface SubgraphSubscriptionMetrics {
  /** One more subscription live; the answer counts it gone. */
  started(): () => void;
  /** One event sent. */
  sent(): void;
  /** A subscription ended by this process, with the code its subscriber was told. */
  ended(code: string): void;
}

/** The subscription metrics, in the process's registry (names apart from the gateway's own `subscriptions_*`). */
export function subgraphSubscriptionMetrics(registry: Registry, hub: LiveHub): SubgraphSubscriptionMetrics {
  const registers = [registry];
  const active = new Gauge({ name: 'subgraph_subscriptions_active', help: 'Subscriptions live in this process now', registers });
  new Gauge({
    name: 'subgraph_subscriptions_listening',
    help: '1 while this process hears its events (its LISTEN connection is up); 0 while it does not, and refuses subscriptions',
    registers,
    collect() {
      this.set(hub.listening ? 1 : 0);
    },
  });
  const events = new Counter({ name: 'subgraph_subscription_events_total', help: 'Subscription events sent to the gateway', registers });
  const ended = new Counter({
    name: 'subgraph_subscriptions_ended_total',
    help: 'Subscriptions this process ended, by the error code their subscriber was told (FORBIDDEN, UNAUTHENTICATED, SUBGRAPH_UNAVAILABLE...)',
    labelNames: ['code'] as const,
    registers,
  });
  return {
    started() {
      active.inc();
      let counted = true;
      return () => {
        if (counted) active.dec();
        counted = false;
      };
    },
    sent: () => events.inc(),
    ended: (code) => ended.inc({ code }),
  };
}
