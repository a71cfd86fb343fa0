import { MIX_LOAD, OURS, targets, type LayoutResult, type Row } from './report';
import { subscriptionTable } from './subscriptions-report';
import type { SubscriptionRow } from './subscriptions-measure';

const NODE = 'Node 22.23.5';
const mixRow = (via: string, requestsPerSecond: number, errors: number): Row => ({
  load: MIX_LOAD,
  via,
  runtime: NODE,
  result: { requestsPerSecond, p50: 10, p95: 15, p99: 18, requests: requestsPerSecond * 8, errors },
  cpuPerRequest: { gateway: 0.5, auth: 0.4, profile: 0.4, payments: 0.4, admin: 0.1, postgres: 0.8 },
});
const layout = (rows: Row[]): LayoutResult => ({
  layout: 'shared',
  rows,
  memory: [],
  payments: { acknowledged: 10, distinctAcknowledged: 10, stored: 10 },
  subscriptions: [],
});
const met = (list: ReturnType<typeof targets>): Record<string, boolean> =>
  Object.fromEntries(list.map((target): [string, boolean] => [target.name.split(' (')[0] as string, target.met]));

describe("the benchmark's targets", () => {
  it('are met by rows without errors', () => {
    expect(met(targets(layout([mixRow(OURS, 400, 0), mixRow('Hive Gateway', 200, 0)]), undefined, NODE))).toMatchObject({
      'mix: our gateway ÷ the best Hive Gateway variant': true,
      'mix: gateway CPU ms per request': true,
      'mix: p99 ÷ p50': true,
    });
  });

  it('read no row with errors: ours fails every target its figures feed, and a failing peer is not the best one', () => {
    // An admin token that expired: a row of fast refusals.
    const oursFailing = met(targets(layout([mixRow(OURS, 900, 812), mixRow('Hive Gateway', 200, 0)]), undefined, NODE));
    expect(oursFailing).toMatchObject({
      'mix: our gateway ÷ the best Hive Gateway variant': false,
      'mix: PostgreSQL CPU ms per request': false,
      'mix: gateway CPU ms per request': false,
      'mix: p99 ÷ p50': false,
      'errors in every row': false,
    });
    const [ratio] = targets(
      layout([mixRow(OURS, 400, 0), mixRow('Hive Gateway', 1000, 488), mixRow('Hive Gateway + router-runtime', 250, 0)]),
      undefined,
      NODE,
    );
    expect(ratio?.value).toBe('1.60×');
  });
});

describe("the subscriptions section's targets", () => {
  const subscriptionRow = (changes: { asked: number; committed: number }, errors: number): SubscriptionRow => ({
    via: 'our gateway',
    paymentPath: 'gateway',
    subscribers: 5000,
    eventsPerSecondAsked: changes.asked,
    eventsPerSecond: changes.committed,
    delivered: 1000,
    expected: 1000,
    lost: 0,
    duplicated: 0,
    p50: 10,
    p99: 40,
    latencyFrom: 'commit stamp',
    gatewayCpuPerEventMs: 0.1,
    memoryPerSubscriptionKb: 30,
    retainedPerSubscriptionKb: 17.9,
    errors,
    cpuPerChangeMs: {},
    window: { startUs: 0, endUs: 1 },
  });
  const verdicts = (row: SubscriptionRow) =>
    subscriptionTable([row])
      .filter((line) => line.startsWith('| p99') || line.startsWith('| gateway memory') || line.startsWith('| events lost'))
      .map((line) => line.split(' | ').at(-1));

  it('are met by a row at the rate asked, without errors', () => {
    expect(verdicts(subscriptionRow({ asked: 500, committed: 498 }, 0))).toEqual(['yes |', 'yes |', 'yes |']);
  });

  it('are not met by a row with errors, or short of the rate asked, whatever it lost', () => {
    expect(verdicts(subscriptionRow({ asked: 500, committed: 235 }, 1986))).toEqual(['no |', 'no |', 'no |']);
    expect(verdicts(subscriptionRow({ asked: 500, committed: 235 }, 0))).toEqual(['no |', 'yes |', 'no |']);
  });
});
