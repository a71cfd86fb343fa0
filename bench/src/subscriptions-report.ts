// The benchmark's subscriptions section as Markdown: the targets, then every row, ours and the peers'.
import { LEAD_IN_SECONDS, OUR_GATEWAY, heldKb, type SubscriptionRow } from './subscriptions-measure';

/** How a row's payments were committed, in words. */
const committed = (row: SubscriptionRow) => (row.paymentPath === 'gateway' ? 'through the gateway' : "payments' own SQL, past the gateway");

/** A row's CPU per change by process: the gateway, payments, PostgreSQL, the driver, everything. */
function cpuPerChange(row: SubscriptionRow): string {
  const of = (name: string) => row.cpuPerChangeMs[name] ?? 0;
  const all = Object.values(row.cpuPerChangeMs).reduce((sum, ms) => sum + ms, 0);
  return `${of('gateway').toFixed(2)} / ${of('payments').toFixed(2)} / ${of('postgres').toFixed(2)} / ${of('driver').toFixed(2)} / ${all.toFixed(2)}`;
}

/**
 * Whether a row measured what its targets ask about: no errors (subscribers refused or cut off), and the
 * changes committed at the rate asked (within 5 %). A row short of either met its targets by measuring less.
 */
const clean = (row: SubscriptionRow) => row.errors === 0 && row.eventsPerSecond >= 0.95 * row.eventsPerSecondAsked;

/** The section as Markdown: the targets, then every row. */
export function subscriptionTable(rows: SubscriptionRow[]): string[] {
  const ours = rows.filter((row) => row.via === OUR_GATEWAY);
  if (ours.length === 0) return [];
  const first = ours[0] as SubscriptionRow;
  // The target's rows: the first subscriber count at the full rate, with payments made each way.
  const targets = ours.filter((row) => row.subscribers === first.subscribers && row.eventsPerSecondAsked === first.eventsPerSecondAsked);
  const lines = [
    '## Subscriptions',
    '',
    `WebSocket subscribers (graphql-ws) spread over the signed-in users, each subscribed to its user's payments; payments committed at a steady rate ` +
      `(each is two changes: recorded, settled), the window opening after ${LEAD_IN_SECONDS} s at that rate; every event counted per subscriber. Payments are made as clients make them, through the gateway's ` +
      "`createPayment`; one row makes them with payments' own `createPayment` (the same transactions, triggers and settlement) in the driver instead, " +
      "so that the stack's processes carry the events' delivery alone, as when the writes come through other machines. Latency is from the subgraph's " +
      "commit stamp to the client's receipt (one machine, one clock); Hive Gateway drops the stamp (result extensions), so its latency is from each " +
      "payment's `createdAt` to its first event. CPU from /proc over the whole row: the gateway's per event delivered, and every process's per change " +
      "committed (the driver is the benchmark's process: its payments and every subscriber's socket); memory is the growth of the gateway's resident " +
      'set with every subscriber connected and idle, per subscription: held (both readings after a full garbage collection in the gateway, asked ' +
      "through its inspector), and as it stood (garbage from the subscribers' connecting included, which V8 collects only when it needs the room).",
    '',
    '| target | measured | goal | met |',
    '| --- | --- | --- | --- |',
    ...targets.map(
      (row) =>
        `| p99 commit to client, ${row.subscribers} subscribers, payments ${committed(row)} | ${row.p99.toFixed(1)} ms at ${row.eventsPerSecond.toFixed(0)} changes/s | ≤ 100 ms at 500 changes/s | ${clean(row) && row.p99 <= 100 && row.eventsPerSecond >= 475 ? 'yes' : 'no'} |`,
    ),
    // Measured once per subscriber count: on the rows at the full rate through the gateway.
    ...ours
      .filter((row) => row.paymentPath === 'gateway' && row.eventsPerSecondAsked === first.eventsPerSecondAsked)
      .map(
        (row) =>
          `| gateway memory held per idle subscription, ${row.subscribers} subscribers | ${heldKb(row)} kB | ≤ 20 kB | ${row.errors === 0 && (row.retainedPerSubscriptionKb ?? Infinity) <= 20 ? 'yes' : 'no'} |`,
      ),
    ...ours.map(
      (row) =>
        `| events lost or duplicated, ${row.subscribers} subscribers, ${row.eventsPerSecondAsked} changes/s asked, payments ${committed(row)} | ${row.lost} lost, ${row.duplicated} duplicated, ` +
        `at ${row.eventsPerSecond.toFixed(0)} changes/s, ${row.errors} errors | 0, at the rate asked, no errors | ${clean(row) && row.lost + row.duplicated === 0 ? 'yes' : 'no'} |`,
    ),
    '',
    '| via | payments | subscribers | changes/s | delivered | expected | lost | duplicated | p50 ms | p99 ms | latency from | gateway CPU-ms/event | CPU-ms per change: gateway / payments / PostgreSQL / driver / all | kB/subscription held / as it stood | errors |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (row) =>
        `| ${row.via} | ${committed(row)} | ${row.subscribers} | ${row.eventsPerSecond.toFixed(0)} | ${row.delivered} | ${row.expected} | ${row.lost} | ${row.duplicated} | ${row.p50.toFixed(1)} | ${row.p99.toFixed(1)} | ${row.latencyFrom} | ${row.gatewayCpuPerEventMs.toFixed(3)} | ${cpuPerChange(row)} | ${heldKb(row)} / ${row.memoryPerSubscriptionKb.toFixed(1)} | ${row.errors} |`,
    ),
    '',
  ];
  return lines;
}
