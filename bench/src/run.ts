// `npm run bench`: the real stack (separate processes, production mode) on fresh databases seeded at
// scale, in each database layout, driven by many distinct signed-in users through our gateway (on Node 22
// and on Node 24), through both Hive Gateway variants over the same supergraph and subgraphs, and through
// the baseline commit's stack (on Node 22); then the gateways alone in front of stubs.
// Writes bench/results/latest.md.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPOSITORY_ROOT, SERVICES, freePort, readSettings, runMain } from '@fedstack/runtime';
import { ownerUrlFor, type DatabaseLayout } from '@fedstack/shared-db';
import { testSigningKey } from '@fedstack/service-kit/testing';
import { planStack, startProcess, stopProcess, waitUntilReady, type PlannedProcess } from '@fedstack/scripts';
import { postgresServer, treeOf, type CpuGroup } from './cpu';
import { measure, type System } from './measure';
import { memoryOf, type MemoryFigure } from './memory';
import { GATEWAY_ONLY, ME_ENTRY, MIX, manifestOf, requests, signedIn } from './mix';
import { HIVE_VARIANTS, NODE_22, NODE_24, nodeVersion, prepareBaseline, startHive } from './peers';
import { MIX_LOAD, OURS, PERSISTED_MIX_LOAD, workersMixLoad, writeReport, type Row } from './report';
import { BENCH_SETTINGS } from './settings';
import { primaryCpu, replicaRows } from './replicas';
import type { ReplicaSection } from './replicas-report';
import { inspectorFor, subscriptionRows } from './subscriptions';
import { queryAt } from '@fedstack/shared-db/testing';
import { HOST, SCALE, SUPERGRAPH, USERS, startBenchStack, writeSupergraph } from './stack';

type Baseline = ReturnType<typeof prepareBaseline>;
/** A moment for a process just started to finish its start-up work before its idle memory is read. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 2000));
const baselineVia = (baseline: Baseline) => `baseline (${baseline.commit})`;

function settings() {
  const values = readSettings(process.env, BENCH_SETTINGS);
  return {
    warmupSeconds: values.BENCH_WARMUP_SECONDS,
    rounds: values.BENCH_ROUNDS,
    roundSeconds: values.BENCH_ROUND_SECONDS,
    connections: values.BENCH_CONNECTIONS,
    workers: values.BENCH_GATEWAY_WORKERS,
    layouts: values.BENCH_LAYOUTS,
    baseline: values.BENCH_BASELINE,
    subscriptions: {
      subscribers: values.BENCH_SUBSCRIBERS,
      eventsPerSecond: values.BENCH_SUBSCRIPTION_EVENTS_PER_SECOND,
      seconds: values.BENCH_SUBSCRIPTION_SECONDS,
    },
  };
}
type Settings = ReturnType<typeof settings>;

/**
 * Runs every row on one database layout: our stack on Node 22 and on Node 24, both Hive variants and the
 * baseline, on a fresh data set.
 */
async function runLayout(layout: DatabaseLayout, options: Settings, baseline: Baseline | undefined) {
  const stack = await startBenchStack(layout, { workers: options.workers, extraPorts: HIVE_VARIANTS.map((_, index) => `hive${index}`), node: NODE_22 });
  // The stack's own PostgreSQL server (not the machine's others), for every row on this layout.
  const postgres = await postgresServer(ownerUrlFor('auth', stack.databaseEnv));
  const { children, ports, tokens } = stack;
  /** Our processes as they run now, for their memory. */
  const ourProcesses = () => stack.processes.map(({ name }) => ({ name, pid: children.get(name)?.pid as number }));
  try {
    // Hive Gateway on the same supergraph and subgraphs, the same worker count, on Node 24.
    const node22 = nodeVersion(NODE_22);
    const node24 = nodeVersion(NODE_24);
    await settle();
    const oursOn22 = memoryOf(ourProcesses(), node22);
    const peers: System[] = [];
    const peerMemory: ReturnType<typeof memoryOf>[] = [];
    // The first variant is the subscriptions section's peer: its inspectors open for full collections.
    const hiveInspector = await inspectorFor(options.workers);
    for (const [index, variant] of HIVE_VARIANTS.entries()) {
      const port = ports[`hive${index}`] as number;
      const hive = await startHive({
        supergraphFile: stack.supergraphFile,
        port,
        host: HOST,
        workers: options.workers,
        scratch: stack.scratch,
        args: variant.args,
        ...(index === 0 ? { inspector: hiveInspector } : {}),
      });
      children.set(`hive${index}`, hive);
      await settle();
      peerMemory.push(memoryOf([{ name: variant.via, pid: hive.pid as number }], node24));
      peers.push({ via: variant.via, runtime: node24, url: `http://${HOST}:${port}/graphql`, cpu: [treeOf('gateway', hive.pid as number), ...subgraphCpu()] });
    }
    function subgraphCpu(): CpuGroup[] {
      return [...SERVICES.map((service) => treeOf(service, children.get(service)?.pid as number)), postgres];
    }
    const ours = (via: string, runtime: string): System => ({
      via,
      runtime,
      url: stack.gatewayUrl,
      cpu: [treeOf('gateway', children.get('gateway')?.pid as number), ...subgraphCpu()],
    });
    const [hive] = peers as [System];

    const acknowledged: string[] = [];
    const collect = (body: string) => {
      const match = /"createPayment":\{"id":"([0-9a-f-]{36})"/.exec(body);
      if (match) acknowledged.push(match[1] as string);
    };
    const rows: Row[] = [];
    rows.push(...(await measure(MIX_LOAD, [ours(OURS, node22), ...peers], () => requests(MIX, tokens), options, collect)));
    // Peaks over the same load for every system: the mix, before the rows that only some of them run.
    const memory: MemoryFigure[] = [...oursOn22.peak(), ...peerMemory.flatMap((peer) => peer.peak())];
    for (const entry of MIX) {
      rows.push(...(await measure(entry.name, [ours(OURS, node22), hive], () => requests([{ ...entry, inTwenty: 1 }], tokens), options, collect)));
    }
    // The one row where identical requests are in flight together: one token, one body.
    rows.push(
      ...(await measure(
        'me, one user for every request (deduplication helps)',
        [ours(OURS, node22), hive],
        () => requests([ME_ENTRY], tokens, { sameToken: true }),
        options,
      )),
    );

    await stack.stop();
    await stack.start(NODE_24);
    await settle();
    const oursOn24 = memoryOf(ourProcesses(), node24);
    // The embedded server's own CPU under the replica rows' name for it: they compare their primary's with it.
    const primary = await primaryCpu(stack);
    const on24 = ours(OURS, node24);
    rows.push(...(await measure(MIX_LOAD, [{ ...on24, cpu: [...on24.cpu, ...(primary ? [primary] : [])] }], () => requests(MIX, tokens), options, collect)));
    memory.push(...oursOn24.peak());
    // The same mix with a streaming replica, on the first layout only, on Node 24: the row above is the one without.
    let replicas: ReplicaSection | undefined;
    if (layout === options.layouts[0]) {
      replicas = await replicaRows(stack, { ...options, node: NODE_24, runtime: node24, via: OURS, onAnswer: collect });
      rows.push(...replicas.rows);
    }
    // Subscriptions, on the first layout only (they do not read across services' databases), on Node 24.
    const subscriptions =
      layout === options.layouts[0]
        ? await subscriptionRows(
            {
              ...stack,
              restart: async (env) => {
                await stack.stop();
                await stack.start(NODE_24, undefined, env);
              },
            },
            {
              ...options.subscriptions,
              workers: options.workers,
              gatewayCpu: () => [treeOf('gateway', children.get('gateway')?.pid as number)],
              peers: [{ via: hive.via, url: hive.url, pid: children.get('hive0')?.pid as number, inspector: hiveInspector }],
            },
          )
        : [];
    // The same mix with one worker per core, when that is more than the benchmark's count: what the
    // workers cost and give on a machine whose cores the whole stack shares.
    const perCore = os.availableParallelism();
    if (perCore > options.workers) {
      await stack.stop();
      await stack.start(NODE_24, undefined, { GATEWAY_WORKERS: String(perCore) });
      await settle();
      const gateway = memoryOf([{ name: `gateway, ${perCore} workers`, pid: children.get('gateway')?.pid as number }], node24);
      rows.push(...(await measure(workersMixLoad(perCore), [ours(OURS, node24)], () => requests(MIX, tokens), options, collect)));
      memory.push(...gateway.peak());
    } else {
      console.log(`${workersMixLoad(perCore)}: not measured, BENCH_GATEWAY_WORKERS (${options.workers}) is already as many`);
    }
    // The same mix by persisted ids, beside the row above with full documents: what the gateway saves.
    const manifest = path.join(stack.scratch, 'persisted-query-manifest.json');
    writeFileSync(manifest, manifestOf(MIX));
    await stack.stop();
    await stack.start(NODE_24, undefined, { PERSISTED_DOCUMENTS: 'require', PERSISTED_DOCUMENTS_FILE: manifest });
    rows.push(...(await measure(PERSISTED_MIX_LOAD, [ours(OURS, node24)], () => requests(MIX, tokens, { byId: true }), options, collect)));
    if (baseline) {
      await stack.stop();
      await stack.start(NODE_22, baseline.root);
      rows.push(...(await measure(MIX_LOAD, [ours(baselineVia(baseline), node22)], () => requests(MIX, tokens), options, collect)));
    }

    // Every acknowledged payment is in the database exactly once.
    const [stored] = await queryAt<{ rows: number; distinct: number }>(
      ownerUrlFor('payments', stack.databaseEnv),
      'SELECT count(*)::int AS rows, count(DISTINCT id)::int AS distinct FROM payments.payments WHERE id = ANY($1::uuid[])',
      [acknowledged],
    );
    const payments = { acknowledged: acknowledged.length, distinctAcknowledged: new Set(acknowledged).size, stored: stored?.rows ?? 0 };
    console.log(`  payments: ${payments.acknowledged} acknowledged, ${payments.stored} stored`);
    return { layout, rows, memory, payments, subscriptions, ...(replicas ? { replicas } : {}) };
  } finally {
    await stack.close();
  }
}

/**
 * The gateways alone: each as one process in front of stub subgraphs built from our SDL that answer at
 * once (one process of their own), so that the figures are the gateway's own cost.
 */
async function runGatewayOnly(options: Settings): Promise<Row[]> {
  console.log('\n== gateway only: in front of stub subgraphs');
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'fedstack-bench-gateway-'));
  const children: ChildProcess[] = [];
  let renewing: (() => void) | undefined;
  try {
    const config = SUPERGRAPH;
    const stubPorts = Object.fromEntries(await Promise.all(config.subgraphs.map(async (subgraph) => [subgraph.name, await freePort()] as const)));
    const stubs = spawn(
      process.execPath,
      [
        path.join(__dirname, 'stubs.js'),
        JSON.stringify(
          Object.fromEntries(config.subgraphs.map((subgraph) => [subgraph.name, { schema: subgraph.schemaFile, port: stubPorts[subgraph.name] }])),
        ),
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    children.push(stubs);
    for (const [name, port] of Object.entries(stubPorts)) await waitUntilReady({ name: `${name} stub`, port: port }, HOST, stubs, { path: '/' });
    const supergraphFile = writeSupergraph(config, stubPorts, scratch);

    const key = await testSigningKey();
    // Tokens the stubs never read, one per request in turn as from real users, so that no two requests are the same.
    const session = () => ({ userId: randomUUID(), sessionId: randomUUID() });
    const tokens = await signedIn(key.privateKey, Array.from({ length: USERS }, session), session());
    renewing = tokens.stop;
    const stubCpu = treeOf('stubs', stubs.pid as number);
    const systems: System[] = [];
    const gateway = planStack({}).find((target) => target.name === 'gateway') as PlannedProcess;
    for (const node of [NODE_22, NODE_24]) {
      const port = await freePort();
      const child = startProcess(
        { ...gateway, port },
        {
          ...process.env,
          NODE_ENV: 'production',
          LOG_LEVEL: 'warn',
          HOST,
          METRICS_PORT: '0',
          GATEWAY_PRIVATE_KEY: key.privateKey,
          SUPERGRAPH_FILE: supergraphFile,
          GATEWAY_WORKERS: '1',
        },
        ['ignore', 'ignore', 'inherit'],
        node,
      );
      children.push(child);
      await waitUntilReady({ name: 'gateway', port }, HOST, child);
      systems.push({ via: OURS, runtime: nodeVersion(node), url: `http://${HOST}:${port}/graphql`, cpu: [treeOf('gateway', child.pid as number), stubCpu] });
    }
    for (const variant of HIVE_VARIANTS) {
      const port = await freePort();
      const hive = await startHive({ supergraphFile, port, host: HOST, workers: 1, scratch, args: variant.args });
      children.push(hive);
      systems.push({
        via: variant.via,
        runtime: nodeVersion(NODE_24),
        url: `http://${HOST}:${port}/graphql`,
        cpu: [treeOf('gateway', hive.pid as number), stubCpu],
      });
    }
    const rows: Row[] = [];
    for (const entry of GATEWAY_ONLY) rows.push(...(await measure(entry.name, systems, () => requests([entry], tokens), options)));
    return rows;
  } finally {
    renewing?.();
    await Promise.all(children.map(stopProcess));
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const options = settings();
  const started = new Date();
  const baseline = options.baseline === 'none' ? undefined : prepareBaseline(options.baseline);
  const layouts = [];
  for (const layout of options.layouts) layouts.push(await runLayout(layout, options, baseline));
  const gatewayOnly = await runGatewayOnly(options);
  const file = path.join(REPOSITORY_ROOT, 'bench', 'results', 'latest.md');
  mkdirSync(path.dirname(file), { recursive: true });
  writeReport(file, {
    started,
    settings: options,
    scale: SCALE,
    users: USERS,
    layouts,
    gatewayOnly,
    oursRuntime: nodeVersion(NODE_22),
    ...(baseline ? { baseline: baselineVia(baseline) } : {}),
    databaseUrlSet: Boolean(process.env.DATABASE_URL),
  });
  console.log(`Report written to ${path.relative(process.cwd(), file)}`);
}

runMain(main);
