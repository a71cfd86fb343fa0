// The benchmark's subscriptions section as Markdown: the targets, then every row, ours and the peers'.
import { OUR_GATEWAY, type SubscriptionRow } from './subscriptions';

/** The section as Markdown: the targets, then every row. */
export function subscriptionTable(rows: SubscriptionRow[]): string[] {
  const ours = rows.filter((row) => row.via === OUR_GATEWAY);
  if (ours.length === 0) return [];
  const first = ours[0] as SubscriptionRow;
  const lines = [
    '## Subscriptions',
    '',
    `WebSocket subscribers (graphql-ws) spread over the signed-in users, each subscribed to its user's payments; payments committed at a steady rate ` +
      `(each is two changes: recorded, settled); every event counted per subscriber. Latency is from the subgraph's commit stamp to the client's receipt ` +
      "(one machine, one clock); Hive Gateway drops the stamp (result extensions), so its latency is from each payment's `createdAt` to its first event. Gateway CPU from /proc over the whole row, per event delivered; memory is the growth of the gateway's resident set with every " +
      'subscriber connected and idle, per subscription.',
    '',
    '| target | measured | goal | met |',
    '| --- | --- | --- | --- |',
    `| p99 commit to client, ${first.subscribers} subscribers | ${first.p99.toFixed(1)} ms at ${first.eventsPerSecond.toFixed(0)} changes/s | ≤ 100 ms at 500 changes/s | ${first.p99 <= 100 && first.eventsPerSecond >= 475 ? 'yes' : 'no'} |`,
    // The last of ours repeats the first at a fifth of the rate: its memory is the first's.
    ...ours
      .slice(0, -1)
      .map(
        (row) =>
          `| gateway memory per idle subscription, ${row.subscribers} subscribers | ${row.memoryPerSubscriptionKb.toFixed(1)} kB | ≤ 20 kB | ${row.memoryPerSubscriptionKb <= 20 ? 'yes' : 'no'} |`,
      ),
    ...ours.map(
      (row) =>
        `| events lost or duplicated, ${row.subscribers} subscribers | ${row.lost} lost, ${row.duplicated} duplicated | 0 | ${row.lost + row.duplicated === 0 ? 'yes' : 'no'} |`,
    ),
    '',
    '| via | subscribers | changes/s | delivered | expected | lost | duplicated | p50 ms | p99 ms | latency from | gateway CPU-ms/event | kB/subscription | errors |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |',
    ...rows.map(
      (row) =>
        `| ${row.via} | ${row.subscribers} | ${row.eventsPerSecond.toFixed(0)} | ${row.delivered} | ${row.expected} | ${row.lost} | ${row.duplicated} | ${row.p50.toFixed(1)} | ${row.p99.toFixed(1)} | ${row.latencyFrom} | ${row.gatewayCpuPerEventMs.toFixed(3)} | ${row.memoryPerSubscriptionKb.toFixed(1)} | ${row.errors} |`,
    ),
    '',
  ];
  return lines;
}
