// What subscriptions cost and deliver: active ones by field, events delivered, commit-to-send latency, slow consumers dropped, subscriptions that fell behind or were lost.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface SubscriptionMetrics {
  /** Counts one more active subscription on `field`; the returned function counts it gone. */
  active(field: string): () => void;
  /** One event sent, and when its change committed (epoch ms), if the subgraph said. */
  delivered(field: string, committedAtMs: number | undefined): void;
  /** A client disconnected for not reading what it was sent. */
  slowConsumerDropped(transport: string): void;
  /** A subscription ended because its events came faster than the gateway's work on them. */
  fellBehind(field: string): void;
  /**
   * A subscription ended, events missed, by its subgraph (`subgraph`: it restarted, or its connection
   * went) or by an event the rest of its plan could not complete (`event`).
   */
  lost(field: string, reason: 'subgraph' | 'event'): void;
}

/** The subscription metrics, in the gateway's registry (added up over workers by the primary). */
export function subscriptionMetrics(registry: Registry): SubscriptionMetrics {
  // An amount: the primary of several workers adds theirs up, which is the gateway's (prom-client's default).
  const active = new Gauge({
    name: 'subscriptions_active',
    help: 'Subscriptions open now, by root field',
    labelNames: ['field'] as const,
    registers: [registry],
  });
  const events = new Counter({
    name: 'subscription_events_total',
    help: 'Subscription events sent to clients, by root field',
    labelNames: ['field'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'subscription_delivery_seconds',
    help: "Time from an event's commit in its subgraph to its sending by the gateway, by root field",
    labelNames: ['field'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const slow = new Counter({
    name: 'subscription_slow_consumers_total',
    help: 'Clients disconnected for not reading what they were sent, by transport',
    labelNames: ['transport'] as const,
    registers: [registry],
  });
  const behind = new Counter({
    name: 'subscription_fell_behind_total',
    help: "Subscriptions ended because their events came faster than the gateway's work on them (events may have been missed), by root field",
    labelNames: ['field'] as const,
    registers: [registry],
  });
  const lost = new Counter({
    name: 'subscription_lost_total',
    help: 'Subscriptions ended with events missed, by root field and why: their subgraph restarted or could not be reached (subgraph), or an event could not be completed (event)',
    labelNames: ['field', 'reason'] as const,
    registers: [registry],
  });
  return {
    active(field) {
      active.inc({ field });
      let counted = true;
      return () => {
        if (counted) active.dec({ field });
        counted = false;
      };
    },
    delivered(field, committedAtMs) {
      events.inc({ field });
      if (committedAtMs !== undefined) latency.observe({ field }, Math.max(0, Date.now() - committedAtMs) / 1000);
    },
    slowConsumerDropped(transport) {
      slow.inc({ transport });
    },
    fellBehind(field) {
      behind.inc({ field });
    },
    lost(field, reason) {
      lost.inc({ field, reason });
    },
  };
}
