// bench/results/latest.md, and the targets the benchmark is judged by.
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import type { DatabaseLayout } from '@fedstack/shared-db';
import type { LoadResult } from './load';
import type { MemoryFigure } from './memory';
import { replicaTable, type ReplicaSection } from './replicas-report';
import type { Scale } from './seed-scale';
import type { SubscriptionRow } from './subscriptions';
import { subscriptionTable } from './subscriptions-report';

/** One load on one system: throughput, latency, and CPU milliseconds per request of each process group. */
export interface Row {
  load: string;
  via: string;
  runtime: string;
  result: LoadResult;
  cpuPerRequest: Record<string, number>;
  /** What the system's counters grew by over the measured rounds (the read replica rows: reads by where they ran). */
  counters?: Record<string, number>;
}

export interface LayoutResult {
  layout: DatabaseLayout;
  rows: Row[];
  /** Our processes on each runtime, and the peers', idle and at peak. */
  memory: MemoryFigure[];
  payments: { acknowledged: number; distinctAcknowledged: number; stored: number };
  /** The subscriptions section's rows (the first layout only). */
  subscriptions: SubscriptionRow[];
  /** The read replica rows (the first layout only), also among `rows`; or why they were not measured. */
  replicas?: ReplicaSection;
}

export interface ReportInput {
  started: Date;
  settings: { warmupSeconds: number; rounds: number; roundSeconds: number; connections: number; workers: number };
  scale: Scale;
  users: number;
  layouts: LayoutResult[];
  /** The gateways in front of stub subgraphs. */
  gatewayOnly: Row[];
  /** The Node our stack runs on first, and the baseline on ("Node 22.23.5"): the rows the targets read. */
  oursRuntime: string;
  /** The baseline's label in the rows ("baseline (c114295)"), when one was measured. */
  baseline?: string;
  databaseUrlSet: boolean;
}

/** The headline load, and how our gateway is named in the rows. */
export const MIX_LOAD = 'realistic mix';
/** The same mix, each operation sent by its persisted id to a gateway that runs only listed ones. */
export const PERSISTED_MIX_LOAD = 'realistic mix, by persisted ids (PERSISTED_DOCUMENTS=require)';
/** The same mix with one gateway worker per core, beside the benchmark's own worker count. */
export const workersMixLoad = (workers: number) => `realistic mix, GATEWAY_WORKERS=${workers} (one per core)`;
export const OURS = 'our gateway';
const HIVE = 'Hive Gateway';

interface Target {
  name: string;
  value: string;
  goal: string;
  met: boolean;
}

const GROUPS = ['gateway', 'auth', 'profile', 'payments', 'admin', 'postgres'];

function row(layout: LayoutResult, load: string, via: string, runtime?: string): Row | undefined {
  return layout.rows.find((entry) => entry.load === load && entry.via === via && (runtime === undefined || entry.runtime === runtime));
}

/**
 * A row whose figures measure what they say: one with errors is not (an admin token that expired made a
 * row of fast refusals look faster than the real one), and no target reads it.
 */
const valid = (entry: Row | undefined): Row | undefined => (entry && entry.result.errors === 0 ? entry : undefined);
const ratio = (a: Row | undefined, b: Row | undefined) =>
  valid(a) && valid(b) ? (a as Row).result.requestsPerSecond / (b as Row).result.requestsPerSecond : Number.NaN;
/** A target on CPU ms per mix request: at most `most`, as issue `issue` set it. */
const cpuTarget = (name: string, ms: number | undefined, most: number, issue: number): Target => ({
  name: `${name}, issue ${issue}'s target`,
  value: (ms ?? Number.NaN).toFixed(2),
  goal: `≤ ${most.toFixed(1)}`,
  met: (ms ?? Infinity) <= most,
});

/** The best Hive variant's row, or why none is compared: one with errors (leaving it out made the next "the best": 1.11× read 1.32×). */
function bestHive(layout: LayoutResult): { best?: Row; failed?: string } {
  const hives = layout.rows.filter((entry) => entry.load === MIX_LOAD && entry.via.startsWith(HIVE));
  const failed = hives.find((entry) => !valid(entry));
  if (failed) return { failed: `not measured: ${failed.via} (${failed.runtime}) had ${failed.result.errors} error${failed.result.errors === 1 ? '' : 's'}` };
  return { best: [...hives].sort((a, b) => b.result.requestsPerSecond - a.result.requestsPerSecond)[0] };
}

/**
 * The targets one run can check, per layout, with the measured values beside them: issue 14's, and issue
 * 25's where it set others (CPU per request of the gateway and PostgreSQL).
 */
export function targets(layout: LayoutResult, baseline: string | undefined, oursRuntime: string): Target[] {
  const ours = row(layout, MIX_LOAD, OURS, oursRuntime);
  if (!ours) return [];
  const hive = bestHive(layout);
  // NaN (not met) for every figure of a row with errors.
  const cpu = valid(ours) ? ours.cpuPerRequest : {};
  const peer = ratio(ours, hive.best);
  const tail = valid(ours) ? ours.result.p99 / ours.result.p50 : Number.NaN;
  const errors = layout.rows.reduce((sum, entry) => sum + entry.result.errors, 0);
  const subgraphCpu = Math.max(...['auth', 'profile', 'payments', 'admin'].map((name) => cpu[name] ?? Number.NaN));
  const { acknowledged, distinctAcknowledged, stored } = layout.payments;
  const overBaseline = baseline ? ratio(ours, row(layout, MIX_LOAD, baseline, oursRuntime)) : Number.NaN;
  return [
    ...(baseline
      ? [{ name: `mix: our gateway ÷ ${baseline}, both on ${oursRuntime} (req/s)`, value: `${overBaseline.toFixed(2)}×`, goal: '≥ 2×', met: overBaseline >= 2 }]
      : []),
    {
      name: `mix: our gateway ÷ the best Hive Gateway variant (req/s)`,
      value: hive.failed ?? `${peer.toFixed(2)}×`,
      goal: '≥ 1.5×',
      met: peer >= 1.5,
    },
    cpuTarget('mix: PostgreSQL CPU ms per request', cpu.postgres, 1.0, 14),
    cpuTarget('mix: PostgreSQL CPU ms per request', cpu.postgres, 0.9, 25),
    { name: 'mix: busiest subgraph CPU ms per request', value: subgraphCpu.toFixed(2), goal: '≤ 0.5', met: subgraphCpu <= 0.5 },
    cpuTarget('mix: gateway CPU ms per request', cpu.gateway, 0.8, 14),
    cpuTarget('mix: gateway CPU ms per request', cpu.gateway, 1.2, 25),
    ...memoryTargets(layout.memory),
    { name: 'mix: p99 ÷ p50', value: `${tail.toFixed(2)}×`, goal: '≤ 2×', met: tail <= 2 },
    { name: 'errors in every row', value: String(errors), goal: '0', met: errors === 0 },
    {
      name: 'acknowledged payments stored exactly once',
      value: `${stored} of ${acknowledged}`,
      goal: 'all, once',
      met: stored === acknowledged && distinctAcknowledged === acknowledged,
    },
  ];
}

/** Our processes' figures on one runtime: those named in the stack (not the peers'). */
function ourMemory(memory: MemoryFigure[], runtime: string): MemoryFigure[] {
  return memory.filter((entry) => entry.runtime === runtime && OUR_PROCESSES.includes(entry.process));
}
const OUR_PROCESSES = ['gateway', 'auth', 'profile', 'payments', 'admin'];
const largest = (figures: MemoryFigure[], when: 'idle' | 'peak') => {
  const top = [...figures].sort((a, b) => b[when].largest - a[when].largest)[0];
  return top ? { mb: top[when].largest, process: top.process } : { mb: Number.NaN, process: '?' };
};

/** Issue 25's memory targets, for each runtime our stack ran on: every process at most 150 MB at peak, 90 MB idle. */
function memoryTargets(memory: MemoryFigure[]): Target[] {
  const runtimes = [...new Set(memory.filter((entry) => OUR_PROCESSES.includes(entry.process)).map((entry) => entry.runtime))];
  return runtimes.flatMap((runtime) => {
    const ours = ourMemory(memory, runtime);
    const peak = largest(ours, 'peak');
    const idle = largest(ours, 'idle');
    return [
      { name: `peak RSS, largest process of ours (${runtime}, MB)`, value: `${peak.mb.toFixed(0)} (${peak.process})`, goal: '≤ 150', met: peak.mb <= 150 },
      { name: `idle RSS, largest process of ours (${runtime}, MB)`, value: `${idle.mb.toFixed(0)} (${idle.process})`, goal: '≤ 90', met: idle.mb <= 90 },
    ];
  });
}

/** The memory table: each process on each runtime, idle and at peak, its largest process and all of them; and our stack's sum per runtime. */
function memoryTable(memory: MemoryFigure[]): string[] {
  const cells = (figure: MemoryFigure['idle']) => `${figure.largest.toFixed(0)} | ${figure.total.toFixed(0)}`;
  const sums = [...new Set(memory.map((entry) => entry.runtime))].flatMap((runtime) => {
    const ours = ourMemory(memory, runtime);
    if (ours.length === 0) return [];
    const total = (when: 'idle' | 'peak') => ours.reduce((sum, entry) => sum + entry[when].total, 0).toFixed(0);
    return [`| **all of ours** | ${runtime} | | ${total('idle')} | | ${total('peak')} |`];
  });
  return [
    '| process | runtime | idle RSS MB (largest process) | idle RSS MB (all its processes) | peak RSS MB (largest process) | peak RSS MB (all its processes) |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
    ...memory.map((entry) => `| ${entry.process} | ${entry.runtime} | ${cells(entry.idle)} | ${cells(entry.peak)} |`),
    ...sums,
  ];
}

/** The gateway-only targets: against the Rust-planner variant on the same Node, and our gateway's own CPU. */
function gatewayOnlyTargets(rows: Row[], oursRuntime: string): Target[] {
  const load = rows[0]?.load;
  const same = rows.filter((entry) => entry.load === load);
  const rust = same.find((entry) => entry.via.includes('router-runtime'));
  const oursSameNode = same.find((entry) => entry.via === OURS && entry.runtime === rust?.runtime);
  const oursDefault = same.find((entry) => entry.via === OURS && entry.runtime === oursRuntime);
  if (!rust || !oursSameNode || !oursDefault) return [];
  const over = ratio(oursSameNode, rust);
  const gatewayCpu = (entry: Row) => (valid(entry) ? (entry.cpuPerRequest.gateway ?? Number.NaN) : Number.NaN);
  return [
    { name: `${load}: ours ÷ ${rust.via}, both on ${rust.runtime} (req/s)`, value: `${over.toFixed(2)}×`, goal: '≥ 1.5×', met: over >= 1.5 },
    {
      name: `${load}: our gateway CPU ms per request (${oursDefault.runtime} / ${oursSameNode.runtime})`,
      value: `${gatewayCpu(oursDefault).toFixed(2)} / ${gatewayCpu(oursSameNode).toFixed(2)}`,
      goal: '≤ 0.6',
      met: Math.min(gatewayCpu(oursDefault), gatewayCpu(oursSameNode)) <= 0.6,
    },
  ];
}

function targetTable(list: Target[]): string[] {
  return [
    '| target | measured | goal | met |',
    '| --- | ---: | --- | --- |',
    ...list.map((target) => `| ${target.name} | ${target.value} | ${target.goal} | ${target.met ? 'yes' : '**no**'} |`),
  ];
}

function rowTable(rows: Row[], groups: string[]): string[] {
  return [
    `| load | via | runtime | req/s | p50 ms | p99 ms | errors | ${groups.map((name) => `${name} CPU ms`).join(' | ')} |`,
    `| --- | --- | --- | ---: | ---: | ---: | ---: | ${groups.map(() => '---:').join(' | ')} |`,
    ...rows.map(({ result, ...entry }) => {
      // A row with errors keeps its figures for whoever looks into it, struck through: they measure no working system.
      const shown = (figure: string) => (result.errors === 0 ? figure : `~~${figure}~~`);
      return (
        `| ${entry.load} | ${entry.via} | ${entry.runtime} | ${shown(result.requestsPerSecond.toFixed(0))} | ${shown(result.p50.toFixed(1))} | ${shown(result.p99.toFixed(1))} | ${result.errors === 0 ? 0 : `**${result.errors}**`} | ` +
        `${groups.map((name) => shown((entry.cpuPerRequest[name] ?? Number.NaN).toFixed(2))).join(' | ')} |`
      );
    }),
  ];
}

/** Writes the Markdown report: targets per layout, then every row with CPU per process, then memory. */
export function writeReport(file: string, input: ReportInput): void {
  const lines: string[] = [];
  const cpus = os.cpus();
  lines.push('# Benchmark: latest run', '');
  lines.push(
    `${input.started.toISOString()} · ${cpus.length} × ${cpus[0]?.model ?? 'unknown CPU'} · ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB · ` +
      `PostgreSQL ${input.databaseUrlSet ? 'from DATABASE_URL' : 'embedded'} · load generator (autocannon) on Node ${process.versions.node} · generated by \`npm run bench\``,
    '',
  );
  lines.push(
    `Every figure is the median of ${input.settings.rounds} rounds of ${input.settings.roundSeconds} s at ${input.settings.connections} connections after a ` +
      `${input.settings.warmupSeconds} s warm-up; the systems of a row take turns within each round. Requests come from ${input.users} distinct signed-in ` +
      `users in turn, so no two requests in flight are the same, except in the row that says so. Every gateway runs ${input.settings.workers === 1 ? 'as one process' : `${input.settings.workers} worker processes`} ` +
      "in front of the same subgraphs (production mode) and supergraph; Hive Gateway (both variants: its own query planner, and Hive Router's Rust planner " +
      `through \`@graphql-hive/router-runtime\`) on Node 24. Our stack runs on ${input.oursRuntime}, the oldest line the project supports, then again on Node 24` +
      (input.baseline
        ? `, and the ${input.baseline} row is the same mix against the commit before this round's work, built in a git worktree, on ${input.oursRuntime}`
        : '') +
      '. Rows that need a restart of our stack are measured after the others rather than interleaved with them. CPU is milliseconds per request from /proc ' +
      "(user + system) of each process and its children; `postgres` is the benchmark's PostgreSQL server (its postmaster and every process it started; every PostgreSQL process on the machine when that server is on another)" +
      (input.databaseUrlSet ? ", here the server DATABASE_URL names, with whatever its other databases' clients made it do meanwhile" : '') +
      '. Errors count transport failures (timeouts among them), non-2xx answers and GraphQL errors; a row with any is struck through, and no target reads it.',
    '',
  );
  for (const layout of input.layouts) {
    lines.push(`## ${layout.layout} layout`, '', ...targetTable(targets(layout, input.baseline, input.oursRuntime)), '', ...rowTable(layout.rows, GROUPS));
    lines.push(
      '',
      "Memory: resident set (RSS) of each process after its start (idle) and at its peak from then through the realistic mix's row (warm-up and rounds: the same load for every system, read before any other row); a gateway is its primary and workers.",
      '',
      ...memoryTable(layout.memory),
    );
    lines.push('', `Payments: ${layout.payments.acknowledged} acknowledged, ${layout.payments.stored} found in the database.`, '');
    const withReplica = layout.replicas?.rows[0];
    lines.push(...replicaTable(layout.replicas, withReplica && row(layout, MIX_LOAD, OURS, withReplica.runtime)).map((line) => line.replace(/^## /, '### ')));
    lines.push(...subscriptionTable(layout.subscriptions).map((line) => line.replace(/^## /, '### ')));
  }
  if (input.gatewayOnly.length > 0) {
    lines.push(
      '## Gateway only',
      '',
      'Each gateway as one process (one worker) in front of stub subgraphs built from our SDL, which answer at once from one process of their ' +
        'own (`bench/src/stubs.ts`): the gateway is the cost. Every request carries a different token.',
      '',
      ...targetTable(gatewayOnlyTargets(input.gatewayOnly, input.oursRuntime)),
      '',
      ...rowTable(input.gatewayOnly, ['gateway', 'stubs']),
      '',
    );
  }
  const [shared, split] = ['shared', 'split'].map((name) => input.layouts.find((layout) => layout.layout === name));
  const mix = (layout: LayoutResult | undefined) => layout && row(layout, MIX_LOAD, OURS, input.oursRuntime);
  // Rows with errors are left out here too: a row of fast refusals compared as the faster layout.
  const sharedMix = valid(mix(shared));
  const splitMix = valid(mix(split));
  if (sharedMix && splitMix) {
    lines.push(
      '## Layouts side by side',
      '',
      `Realistic mix through our gateway: shared ${sharedMix.result.requestsPerSecond.toFixed(0)} req/s (p99 ${sharedMix.result.p99.toFixed(1)} ms), ` +
        `split ${splitMix.result.requestsPerSecond.toFixed(0)} req/s (p99 ${splitMix.result.p99.toFixed(1)} ms): split ÷ shared ` +
        `${(splitMix.result.requestsPerSecond / sharedMix.result.requestsPerSecond).toFixed(2)}×. Both on one PostgreSQL server here; split means four databases.`,
      '',
    );
  }
  lines.push('## Data set', '');
  lines.push(
    `${input.scale.users} users (every ${input.scale.usersWithoutProfileEvery}th without a profile), ${input.scale.users * input.scale.paymentsPerUser} payments in EUR, USD, GBP and JPY in every status, ` +
      `${input.scale.auditEntries} audit entries, plus the demo accounts, on fresh databases for each layout. The realistic mix, per 20 requests: 10 "my account" ` +
      '(me, profile, five payments, totals: three subgraphs), 3 `me`, 3 `createPayment`, 2 `updateMyProfile`, 2 admin lists of about 20 users.',
    '',
  );
  writeFileSync(file, `${lines.join('\n')}\n`);
}
