// The benchmark's subscriptions section: thousands of WebSocket subscribers, payments committed at a steady rate, every event counted.
import { readFileSync } from 'node:fs';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { cpuSample, treeOf, type CpuGroup } from './cpu';
import { processTree } from './memory';

/** What one subscriber count measured. */
export interface SubscriptionRow {
  via: string;
  subscribers: number;
  /** Changes committed per second (a payment is two: recorded, settled). */
  eventsPerSecond: number;
  delivered: number;
  expected: number;
  lost: number;
  duplicated: number;
  /** Commit to client, in milliseconds. */
  p50: number;
  p99: number;
  /**
   * What latency is measured from: the commit stamp the subgraph gives each event (`extensions.committedAt`),
   * or, where a gateway drops result extensions (Hive Gateway), the payment's `createdAt` for its first event.
   */
  latencyFrom: 'commit stamp' | 'createdAt';
  /** The gateway's CPU per event delivered to a client, in milliseconds. */
  gatewayCpuPerEventMs: number;
  /** The gateway's resident memory per idle subscription, in kB. */
  memoryPerSubscriptionKb: number;
  errors: number;
  /**
   * CPU per committed change over the same window, in milliseconds, by process group: the gateway, any
   * other group the caller counts (the subgraphs, PostgreSQL), and this process (`driver`: the payment
   * calls and every subscriber's socket).
   */
  cpuPerChangeMs: Record<string, number>;
  /** When payments began and the stragglers' wait ended, on the monotonic clock V8's profiles use (µs). */
  window: { startUs: number; endUs: number };
}

const SUBSCRIPTION = 'subscription { paymentUpdated { id status amount createdAt user { id } } }';
const PAY = `mutation ($key: String!) { createPayment(input: { amount: "1.00", currency: "EUR", paymentMethodToken: "tok_visa" }, idempotencyKey: $key) { id } }`;

/** Resident memory of a process tree now, in kB. */
function rssKb(pid: number): number {
  return processTree(pid).reduce((sum, each) => {
    try {
      return sum + Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${each}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      return sum;
    }
  }, 0);
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;

/**
 * Opens `subscribers` WebSocket connections to `url` spread over the users (one subscription each, to the
 * user's own payments), waits until each has seen one of its user's payments (so that all are live),
 * measures the gateway's memory idle, then commits payments at `paymentsPerSecond` for `seconds` and
 * counts what every subscriber received: each of its user's payments, twice (recorded, settled), once.
 */
export async function measureSubscriptions(options: {
  via: string;
  url: string;
  gateway: { pid: number; cpu: CpuGroup[] };
  userTokens: { userId: string; token: string }[];
  subscribers: number;
  paymentsPerSecond: number;
  seconds: number;
  /** Other process groups whose CPU is counted over the window (per change, not in the gateway's figure). */
  others?: CpuGroup[];
  /** Told as the window opens (true) and closes (false): a profiler of this process starts and stops there. */
  onMeasuring?: (measuring: boolean) => Promise<void>;
}): Promise<SubscriptionRow> {
  const { userTokens } = options;
  const wsUrl = options.url.replace(/^http/, 'ws');
  /** Events received, by subscriber and payment: each committed change of a payment is one event. */
  const received = new Map<string, number>();
  const latencies: number[] = [];
  const createdLatencies: number[] = [];
  const byUser = new Map<string, number[]>();
  let errors = 0;
  let measuring = false;
  const seen = new Set<number>();
  const clients: Client[] = [];
  let sequence = 0;
  const pay = async (user: { userId: string; token: string }) => {
    sequence += 1;
    let body: { data?: { createPayment: { id: string } }; errors?: unknown };
    try {
      const response = await fetch(options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${user.token}` },
        body: JSON.stringify({ query: PAY, variables: { key: `bench-sub-${Date.now()}-${sequence}` } }),
      });
      body = (await response.json()) as typeof body;
    } catch {
      // A call that could not connect or was cut off on a saturated machine is an error of the row, not its end.
      body = {};
    }
    if (!body.data) {
      errors += 1;
      return undefined;
    }
    return { userId: user.userId, id: body.data.createPayment.id };
  };
  // The gateway's resident set once it has carried as many payments as coming live will take, before any
  // subscriber connects: what grows beyond it is the subscriptions', not the warm-up of its heap and code.
  for (let round = 0; round < 3; round += 1) await Promise.all(userTokens.map(pay));
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const rssBefore = rssKb(options.gateway.pid);
  for (let index = 0; index < options.subscribers; index += 1) {
    const { userId, token } = userTokens[index % userTokens.length] as { userId: string; token: string };
    byUser.set(userId, [...(byUser.get(userId) ?? []), index]);
    const client = createClient({
      url: wsUrl,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      lazy: false,
      connectionParams: { authorization: `Bearer ${token}` },
      onNonLazyError: () => (errors += 1),
    });
    clients.push(client);
    client.subscribe<{ paymentUpdated: { id: string; status: string; createdAt: string } }>(
      { query: SUBSCRIPTION },
      {
        next: (result) => {
          if (result.errors) return void (errors += 1);
          seen.add(index);
          if (!measuring || !result.data) return;
          // Keyed by payment, not by status: an event reads the row as it is when it is handled, so the
          // first of a payment's two (recorded, settled) may already show it settled.
          const key = `${index}:${result.data.paymentUpdated.id}`;
          const count = (received.get(key) ?? 0) + 1;
          received.set(key, count);
          const committed = Date.parse(String((result.extensions as { committedAt?: string } | undefined)?.committedAt));
          if (!Number.isNaN(committed)) latencies.push(Date.now() - committed);
          else if (count === 1) {
            createdLatencies.push(Date.now() - Date.parse(result.data.paymentUpdated.createdAt));
          }
        },
        error: () => (errors += 1),
        complete: () => undefined,
      },
    );
  }
  // Live: every subscriber has seen one of its user's payments (a client cannot otherwise tell).
  for (let round = 0; round < 20 && seen.size < options.subscribers; round += 1) {
    await Promise.all(userTokens.filter(({ userId }) => (byUser.get(userId) ?? []).some((index) => !seen.has(index))).map(pay));
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  if (seen.size < options.subscribers) throw new Error(`${options.via}: only ${seen.size} of ${options.subscribers} subscribers came live`);
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const memoryPerSubscriptionKb = Math.max(0, rssKb(options.gateway.pid) - rssBefore) / options.subscribers;

  await options.onMeasuring?.(true);
  measuring = true;
  const cpu = cpuSample(options.gateway.cpu);
  const othersCpu = cpuSample(options.others ?? []);
  const driverCpu = process.cpuUsage();
  const startUs = Number(process.hrtime.bigint() / 1000n);
  const made: { userId: string; id: string }[] = [];
  const interval = 1000 / options.paymentsPerSecond;
  const started = performance.now();
  const inFlight = new Set<Promise<void>>();
  for (let index = 0; performance.now() - started < options.seconds * 1000; index += 1) {
    const due = started + index * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const user = userTokens[index % userTokens.length] as { userId: string; token: string };
    const payment: Promise<void> = pay(user).then((done) => {
      if (done) made.push(done);
      inFlight.delete(payment);
    });
    inFlight.add(payment);
  }
  await Promise.all(inFlight);
  // Stragglers: a gateway behind its backlog keeps delivering; wait while events still come (up to a
  // minute), so that what is counted lost never arrived rather than arrived late. Counted over the
  // acknowledged payments: one whose call failed may still have committed, and its events arrive too.
  const missing = () =>
    made.reduce(
      (sum, { userId, id }) => sum + (byUser.get(userId) ?? []).reduce((left, index) => left + Math.max(0, 2 - (received.get(`${index}:${id}`) ?? 0)), 0),
      0,
    );
  const drainStarted = performance.now();
  for (let last = -1, quietSince = performance.now(); performance.now() - drainStarted < 60_000;) {
    const now = missing();
    if (now === 0) break;
    if (now !== last) [last, quietSince] = [now, performance.now()];
    else if (performance.now() - quietSince > 3000) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const used = cpu();
  const othersUsed = othersCpu();
  const driverUsed = process.cpuUsage(driverCpu);
  const endUs = Number(process.hrtime.bigint() / 1000n);
  measuring = false;
  await options.onMeasuring?.(false);
  for (const client of clients) await client.dispose();

  let expected = 0;
  let lost = 0;
  let duplicated = 0;
  for (const { userId, id } of made) {
    for (const index of byUser.get(userId) ?? []) {
      // Two changes each: recorded PENDING, then settled.
      expected += 2;
      const count = received.get(`${index}:${id}`) ?? 0;
      lost += Math.max(0, 2 - count);
      duplicated += Math.max(0, count - 2);
    }
  }
  const delivered = expected - lost + duplicated;
  const byStamp = latencies.length > 0;
  const sorted = (byStamp ? latencies : createdLatencies).sort((a, b) => a - b);
  const gatewayCpuMs = Object.values(used).reduce((sum, ms) => sum + ms, 0);
  const changes = Math.max(made.length * 2, 1);
  const cpuPerChangeMs = Object.fromEntries(
    Object.entries({ gateway: gatewayCpuMs, ...othersUsed, driver: (driverUsed.user + driverUsed.system) / 1000 }).map(([name, ms]) => [name, ms / changes]),
  );
  return {
    via: options.via,
    subscribers: options.subscribers,
    eventsPerSecond: (made.length * 2) / options.seconds,
    delivered,
    expected,
    lost,
    duplicated,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    latencyFrom: byStamp ? 'commit stamp' : 'createdAt',
    gatewayCpuPerEventMs: gatewayCpuMs / Math.max(delivered, 1),
    memoryPerSubscriptionKb,
    errors,
    cpuPerChangeMs,
    window: { startUs, endUs },
  };
}

/** How our gateway is named in the section's rows. */
export const OUR_GATEWAY = 'our gateway';

/** A peer gateway over the same subgraphs, measured on the section's first row. */
export interface SubscriptionPeer {
  via: string;
  url: string;
  pid: number;
}

/** The section's rows on a running stack: each subscriber count in turn, on our gateway; then the first on each peer. */
export async function subscriptionRows(
  stack: { gatewayUrl: string; userIds: string[]; tokens: { users: string[] }; children: Map<string, { pid?: number }>; restart(): Promise<void> },
  options: { subscribers: number[]; eventsPerSecond: number; seconds: number; gatewayCpu: () => CpuGroup[]; peers?: SubscriptionPeer[] },
): Promise<SubscriptionRow[]> {
  const rows: SubscriptionRow[] = [];
  const userTokens = stack.userIds.map((userId, index) => ({ userId, token: stack.tokens.users[index] as string }));
  // Each subscriber count at the target rate, and the first again at a fifth of it (latency unloaded).
  const plan = [
    ...options.subscribers.map((subscribers) => ({ subscribers, eventsPerSecond: options.eventsPerSecond })),
    ...options.subscribers.slice(0, 1).map((subscribers) => ({ subscribers, eventsPerSecond: options.eventsPerSecond / 5 })),
  ];
  for (const [index, { subscribers, eventsPerSecond }] of plan.entries()) {
    // A fresh stack each row: the gateway's memory is measured from where a new process starts.
    if (index > 0) await stack.restart();
    console.log(`subscriptions: ${subscribers} WebSocket subscribers, ${eventsPerSecond} changes/s for ${options.seconds} s…`);
    const row = await measureSubscriptions({
      via: OUR_GATEWAY,
      url: stack.gatewayUrl,
      gateway: { pid: stack.children.get('gateway')?.pid as number, cpu: options.gatewayCpu() },
      userTokens,
      subscribers,
      paymentsPerSecond: eventsPerSecond / 2,
      seconds: options.seconds,
    });
    console.log(
      `  ${subscribers} subscribers: ${row.eventsPerSecond.toFixed(0)} changes/s, ${row.delivered} delivered of ${row.expected} (lost ${row.lost}, duplicated ${row.duplicated}), ` +
        `p50 ${row.p50.toFixed(1)} ms p99 ${row.p99.toFixed(1)} ms, gateway ${row.gatewayCpuPerEventMs.toFixed(3)} CPU-ms/event, ${row.memoryPerSubscriptionKb.toFixed(1)} kB/subscription, errors ${row.errors}`,
    );
    rows.push(row);
  }
  for (const peer of options.subscribers.length > 0 ? (options.peers ?? []) : []) {
    await stack.restart();
    const subscribers = options.subscribers[0] as number;
    console.log(`subscriptions through ${peer.via}: ${subscribers} WebSocket subscribers, ${options.eventsPerSecond} changes/s for ${options.seconds} s…`);
    const row = await measureSubscriptions({
      via: peer.via,
      url: peer.url,
      gateway: { pid: peer.pid, cpu: [treeOf('gateway', peer.pid)] },
      userTokens,
      subscribers,
      paymentsPerSecond: options.eventsPerSecond / 2,
      seconds: options.seconds,
    });
    console.log(
      `  ${peer.via}: p50 ${row.p50.toFixed(1)} ms p99 ${row.p99.toFixed(1)} ms, lost ${row.lost}, duplicated ${row.duplicated}, errors ${row.errors}`,
    );
    rows.push(row);
  }
  return rows;
}
