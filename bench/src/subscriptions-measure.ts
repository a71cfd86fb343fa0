// One row of the benchmark's subscriptions section: thousands of WebSocket subscribers, payments committed at a steady rate, every event counted.
import type { Client } from 'graphql-ws';
import { residentAfterCollectionKb, type Inspector } from './collect-garbage';
import { cpuSample, type CpuGroup } from './cpu';
import { treeRssMb } from './memory';
import { SUBSCRIPTION, WARM_UP_SUBSCRIBERS, payUntilSeen, subscriberClient, warmUp } from './subscribers';
import type { BenchUser, Pay, PaymentPath } from './subscriptions-driver';

/** What one subscriber count measured. */
export interface SubscriptionRow {
  via: string;
  /** How the payments were committed (subscriptions-driver.ts). */
  paymentPath: PaymentPath;
  subscribers: number;
  /** Changes asked for per second, and committed (a payment is two: recorded, settled). */
  eventsPerSecondAsked: number;
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
  /** The growth of the gateway's resident memory per idle subscription, in kB, as it stood (garbage included). */
  memoryPerSubscriptionKb: number;
  /**
   * The same growth with both readings taken after a full garbage collection in the gateway: the memory
   * it holds per idle subscription. Undefined when the gateway's inspector was not open to ask for one.
   */
  retainedPerSubscriptionKb?: number;
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

/** The gateway's memory held per idle subscription, in kB, or a dash where its inspector was not open. */
export const heldKb = (row: SubscriptionRow) => row.retainedPerSubscriptionKb?.toFixed(1) ?? '–';

/**
 * Seconds of payments at the row's rate before its window opens. The full collections that read the memory
 * held leave the gateway's heap and compiled code cold, and the first seconds after them measured that:
 * p50 74 ms and p99 153 ms in the first second of a row, 2-18 and 14-62 ms in each second after the third.
 */
export const LEAD_IN_SECONDS = 3;

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
  /** The gateway: its process, its CPU groups, and where its processes' inspectors listen, for full collections. */
  gateway: { pid: number; cpu: CpuGroup[]; inspector?: Inspector };
  userTokens: BenchUser[];
  /** How payments are committed, and what that is called in the row. */
  payments: { path: PaymentPath; pay: Pay };
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
  /** Why subscribers failed (a close code and reason, an error's message), by how often. */
  const failures = new Map<string, number>();
  const failed = (reason: unknown) => {
    errors += 1;
    const { code, reason: why, message } = reason as { code?: number; reason?: string; message?: string };
    const key = code === undefined ? String(message ?? reason) : `${code} ${why ?? ''}`.trim();
    failures.set(key, (failures.get(key) ?? 0) + 1);
  };
  const clients: Client[] = [];
  let sequence = 0;
  const pay = async (user: BenchUser) => {
    sequence += 1;
    const made = await options.payments.pay(user, `bench-sub-${Date.now()}-${sequence}`);
    if (!made) errors += 1;
    return made;
  };
  // The gateway's resident set once it has carried as many payments as coming live will take, and served
  // a few subscriptions (closed again), before these subscribers connect: what grows beyond it is the
  // subscriptions', not the warm-up of its heap and code.
  for (let round = 0; round < 3; round += 1) await Promise.all(userTokens.map(pay));
  await warmUp(wsUrl, userTokens.slice(0, WARM_UP_SUBSCRIBERS), pay);
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const rssBefore = treeRssMb(options.gateway.pid, 'now').total * 1024;
  const retainedBefore = await residentAfterCollectionKb(options.gateway);
  for (let index = 0; index < options.subscribers; index += 1) {
    const { userId, token } = userTokens[index % userTokens.length] as { userId: string; token: string };
    byUser.set(userId, [...(byUser.get(userId) ?? []), index]);
    const client = subscriberClient(wsUrl, token, failed);
    clients.push(client);
    client.subscribe<{ paymentUpdated: { id: string; status: string; createdAt: string } }>(
      { query: SUBSCRIPTION },
      {
        next: (result) => {
          if (result.errors) {
            const [first] = result.errors as { message?: string; extensions?: { code?: unknown } }[];
            const code = first?.extensions?.code;
            return void failed({ message: `${typeof code === 'string' ? code : 'error'}: ${first?.message ?? ''}` });
          }
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
        error: failed,
        complete: () => undefined,
      },
    );
  }
  // Live: every subscriber has seen one of its user's payments; up to 30 s, for a machine busy enough that
  // 1,000 connections take a while to open.
  await payUntilSeen(60, () => userTokens.filter(({ userId }) => (byUser.get(userId) ?? []).some((index) => !seen.has(index))), pay);
  if (seen.size < options.subscribers) {
    for (const client of clients) await client.dispose();
    const why = [...failures].map(([reason, count]) => `${count} × ${reason}`).join('; ');
    throw new Error(`${options.via}: only ${seen.size} of ${options.subscribers} subscribers came live (${errors} errors: ${why || 'none told'})`);
  }
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const memoryPerSubscriptionKb = Math.max(0, treeRssMb(options.gateway.pid, 'now').total * 1024 - rssBefore) / options.subscribers;
  const retainedAfter = await residentAfterCollectionKb(options.gateway);
  const retainedPerSubscriptionKb =
    retainedBefore === undefined || retainedAfter === undefined ? undefined : Math.max(0, retainedAfter - retainedBefore) / options.subscribers;

  const made: { userId: string; id: string }[] = [];
  const inFlight = new Set<Promise<void>>();
  let next = 0;
  /** Pays at the row's rate for `seconds`, one user after another; `record` counts the payments made. */
  const payAtRate = async (seconds: number, record: boolean) => {
    const started = performance.now();
    for (let index = 0; performance.now() - started < seconds * 1000; index += 1) {
      const wait = started + index * (1000 / options.paymentsPerSecond) - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const payment: Promise<void> = pay(userTokens[next++ % userTokens.length] as BenchUser).then((done) => {
        if (done && record) made.push(done);
        inFlight.delete(payment);
      });
      inFlight.add(payment);
    }
  };
  await payAtRate(LEAD_IN_SECONDS, false);
  await options.onMeasuring?.(true);
  measuring = true;
  const cpu = cpuSample(options.gateway.cpu);
  const othersCpu = cpuSample(options.others ?? []);
  const driverCpu = process.cpuUsage();
  const startUs = Number(process.hrtime.bigint() / 1000n);
  await payAtRate(options.seconds, true);
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
    paymentPath: options.payments.path,
    subscribers: options.subscribers,
    eventsPerSecondAsked: options.paymentsPerSecond * 2,
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
    ...(retainedPerSubscriptionKb === undefined ? {} : { retainedPerSubscriptionKb }),
    errors,
    cpuPerChangeMs,
    window: { startUs, endUs },
  };
}

/** How our gateway is named in the section's rows. */
export const OUR_GATEWAY = 'our gateway';
