// The benchmark's subscriptions section on a running stack: each subscriber count through our gateway, the first again with payments committed past it and at a fifth of the rate, then the peers.
import { SERVICES, freePort } from '@fedstack/runtime';
import { ownerUrlFor } from '@fedstack/shared-db';
import { inspectOption, type Inspector } from './collect-garbage';
import { postgresServer, treeOf, type CpuGroup } from './cpu';
import { HOST, type ExtraEnv } from './stack';
import { paymentDriver, type PaymentPath } from './subscriptions-driver';
import { OUR_GATEWAY, heldKb, measureSubscriptions, type SubscriptionRow } from './subscriptions-measure';

export { OUR_GATEWAY, measureSubscriptions, type SubscriptionRow } from './subscriptions-measure';

/** A peer gateway over the same subgraphs, measured on the section's first row. */
export interface SubscriptionPeer {
  via: string;
  url: string;
  pid: number;
  /** Where its inspectors listen, for its memory after full collections. */
  inspector?: Inspector;
}

/**
 * Inspector ports for a gateway of `workers` processes: a free one for the first (the primary, or the
 * gateway alone) and the next for each worker, which node:cluster gives them when the option is on the
 * command line (as Hive Gateway is started). All must be free: a worker whose port is taken runs without
 * an inspector, and its garbage would be counted as held.
 */
export async function inspectorFor(workers: number): Promise<Inspector> {
  const count = workers > 1 ? workers + 1 : 1;
  const first = await freePort(count);
  return { host: HOST, ports: Array.from({ length: count }, (_unused, index) => first + index) };
}

const describe = (row: SubscriptionRow) =>
  `${row.eventsPerSecond.toFixed(0)} changes/s, ${row.delivered} delivered of ${row.expected} (lost ${row.lost}, duplicated ${row.duplicated}), ` +
  `p50 ${row.p50.toFixed(1)} ms p99 ${row.p99.toFixed(1)} ms, gateway ${row.gatewayCpuPerEventMs.toFixed(3)} CPU-ms/event, ` +
  `${heldKb(row)} kB held per subscription (${row.memoryPerSubscriptionKb.toFixed(1)} as it stood), errors ${row.errors}; CPU-ms per change: ` +
  Object.entries(row.cpuPerChangeMs)
    .map(([name, ms]) => `${name} ${ms.toFixed(2)}`)
    .join(', ');

/**
 * The section's rows: each subscriber count at the target rate with payments made as clients make them
 * (through the gateway); the first count again with payments committed by payments' own code in the
 * driver (subscriptions-driver.ts: the delivery alone on the stack's processes), and at a fifth of the
 * rate (latency unloaded); then the first count on each peer, through it.
 */
export async function subscriptionRows(
  stack: {
    gatewayUrl: string;
    databaseEnv: NodeJS.ProcessEnv;
    userIds: string[];
    tokens: { users: string[] };
    children: Map<string, { pid?: number }>;
    /** Restarts the stack, `env` added to the processes' settings. */
    restart(env?: ExtraEnv): Promise<void>;
  },
  options: {
    subscribers: number[];
    eventsPerSecond: number;
    seconds: number;
    /** Our gateway's processes (GATEWAY_WORKERS). */
    workers: number;
    gatewayCpu: () => CpuGroup[];
    peers?: SubscriptionPeer[];
  },
): Promise<SubscriptionRow[]> {
  const rows: SubscriptionRow[] = [];
  // The subgraphs' and PostgreSQL's CPU over each row too, per change (the processes of the stack running then;
  // the benchmark's own PostgreSQL server, not every one on the machine).
  const postgres = await postgresServer(ownerUrlFor('payments', stack.databaseEnv));
  const others = (): CpuGroup[] => [...SERVICES.map((service) => treeOf(service, stack.children.get(service)?.pid as number)), postgres];
  const userTokens = stack.userIds.map((userId, index) => ({ userId, token: stack.tokens.users[index] as string }));
  const first = options.subscribers.slice(0, 1);
  const plan: { subscribers: number; eventsPerSecond: number; path: PaymentPath }[] = [
    ...options.subscribers.map((subscribers) => ({ subscribers, eventsPerSecond: options.eventsPerSecond, path: 'gateway' as const })),
    ...first.map((subscribers) => ({ subscribers, eventsPerSecond: options.eventsPerSecond, path: 'payments SQL' as const })),
    ...first.map((subscribers) => ({ subscribers, eventsPerSecond: options.eventsPerSecond / 5, path: 'gateway' as const })),
  ];
  for (const { subscribers, eventsPerSecond, path } of plan) {
    // A fresh stack each row: the gateway's memory is measured from where a new process starts, its
    // inspector open for full garbage collections. Only a gateway of one process: the option reaches
    // workers through NODE_OPTIONS, where node:cluster gives them no ports of their own, so a gateway of
    // several is measured as it stood only.
    const inspector = options.workers === 1 ? await inspectorFor(1) : undefined;
    const nodeOptions = [process.env.NODE_OPTIONS, ...(inspector ? [inspectOption(inspector)] : [])].filter(Boolean).join(' ');
    await stack.restart((name) => (name === 'gateway' && nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}));
    console.log(`subscriptions: ${subscribers} WebSocket subscribers, ${eventsPerSecond} changes/s committed through ${path}, for ${options.seconds} s…`);
    const driver = paymentDriver(path, { gatewayUrl: stack.gatewayUrl, databaseEnv: stack.databaseEnv });
    try {
      const row = await measureSubscriptions({
        via: OUR_GATEWAY,
        url: stack.gatewayUrl,
        gateway: { pid: stack.children.get('gateway')?.pid as number, cpu: options.gatewayCpu(), ...(inspector ? { inspector } : {}) },
        userTokens,
        payments: { path, pay: driver.pay },
        subscribers,
        paymentsPerSecond: eventsPerSecond / 2,
        seconds: options.seconds,
        others: others(),
      });
      console.log(`  ${subscribers} subscribers: ${describe(row)}`);
      rows.push(row);
    } finally {
      await driver.close();
    }
  }
  for (const peer of first.length > 0 ? (options.peers ?? []) : []) {
    await stack.restart();
    const subscribers = first[0] as number;
    console.log(`subscriptions through ${peer.via}: ${subscribers} WebSocket subscribers, ${options.eventsPerSecond} changes/s for ${options.seconds} s…`);
    const row = await measureSubscriptions({
      via: peer.via,
      url: peer.url,
      gateway: { pid: peer.pid, cpu: [treeOf('gateway', peer.pid)], ...(peer.inspector ? { inspector: peer.inspector } : {}) },
      userTokens,
      payments: { path: 'gateway', pay: paymentDriver('gateway', { gatewayUrl: peer.url, databaseEnv: stack.databaseEnv }).pay },
      subscribers,
      paymentsPerSecond: options.eventsPerSecond / 2,
      seconds: options.seconds,
      others: others(),
    });
    console.log(`  ${peer.via}: ${describe(row)}`);
    rows.push(row);
  }
  return rows;
}
