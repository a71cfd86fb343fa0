// Our stack as the benchmark runs it, set up once per database layout and shared by its rows.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPOSITORY_ROOT, SERVICES, freePort } from '@fedstack/runtime';
import {
  DEMO_ADMIN,
  createScratchDatabases,
  developmentPasswordSettings,
  ownerUrlFor,
  prepareDatabases,
  seedDemoData,
  type DatabaseLayout,
} from '@fedstack/shared-db';
import { compose, readSupergraphConfig, type SupergraphConfig } from '@fedstack/gateway';
import { testSigningKey } from '@fedstack/service-kit/testing';
import { planStack, routing, startProcess, stopProcess, waitUntilReady, type PlannedProcess } from '@fedstack/scripts';
import { sessionsFor, signedIn, type Session, type Tokens } from './mix';
import { seedScale, type Scale } from './seed-scale';
import { queryAt } from '@fedstack/shared-db/testing';

export const HOST = '127.0.0.1';
export const SCALE: Scale = { users: 10_000, paymentsPerUser: 10, usersWithoutProfileEvery: 10, auditEntries: 20_000 };
/** Distinct signed-in users the load is spread over. */
export const USERS = 300;

/** Our subgraphs, as supergraph.yaml lists them. */
export const SUPERGRAPH = readSupergraphConfig(path.join(REPOSITORY_ROOT, 'supergraph.yaml'));

/** Composes the supergraph with each subgraph routed to its port here; writes it into `directory` and answers the file. */
export function writeSupergraph(config: SupergraphConfig, ports: Record<string, number | undefined>, directory: string): string {
  const composed = compose({
    ...config,
    subgraphs: config.subgraphs.map((subgraph) => ({ ...subgraph, routingUrl: `http://${HOST}:${ports[subgraph.name]}/graphql` })),
  });
  if (!composed.ok) throw new Error(composed.errors.join('\n'));
  const file = path.join(directory, 'supergraph.graphql');
  writeFileSync(file, composed.supergraphSdl);
  return file;
}

/** Which Node runs each of our processes: a path, or a function of the process's name (a profiling wrapper). */
export type NodeFor = string | ((name: string) => string);
/** Settings added to our processes': the same for all, or a function of the process's name. */
export type ExtraEnv = NodeJS.ProcessEnv | ((name: string) => NodeJS.ProcessEnv);

/**
 * Fresh databases seeded at scale, a supergraph pointing at ports of our own, signing keys and signed-in
 * users: everything the stack needs, with our processes started and stopped on demand (on any Node, from
 * any checkout of the repository) so that several runs can share one data set.
 */
export interface BenchStack {
  layout: DatabaseLayout;
  databaseEnv: NodeJS.ProcessEnv;
  scratch: string;
  supergraphFile: string;
  ports: Record<string, number>;
  gatewayUrl: string;
  processes: PlannedProcess[];
  tokens: Tokens;
  /** The signed-in users' ids, in the order of `tokens.users`. */
  userIds: string[];
  /** The running processes by name: ours, and any other the caller adds (so that they are stopped too). */
  children: Map<string, ChildProcess>;
  /**
   * Starts our gateway and subgraphs, from `root` (another checkout) when given, with `env` added to their
   * settings (the same for all, or each process's own: a metrics port, say).
   */
  start(node: NodeFor, root?: string, env?: ExtraEnv): Promise<void>;
  stop(): Promise<void>;
  close(): Promise<void>;
}

/** Sets the data and the keys up, then starts our stack on `options.node` (the Node running this, unless given). */
export async function startBenchStack(layout: DatabaseLayout, options: { workers: number; extraPorts?: string[]; node?: NodeFor }): Promise<BenchStack> {
  console.log(`\n== ${layout} layout: seeding ${SCALE.users} users and ${SCALE.users * SCALE.paymentsPerUser} payments on fresh databases…`);
  const database = await createScratchDatabases(layout);
  const databaseEnv = { ...process.env, ...database.env };
  const children = new Map<string, ChildProcess>();
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'fedstack-bench-'));
  let tokens: (Tokens & { stop: () => void }) | undefined;
  const close = async () => {
    tokens?.stop();
    await Promise.all([...children.values()].map(stopProcess));
    await database.drop();
    rmSync(scratch, { recursive: true, force: true });
  };
  try {
    await prepareDatabases(databaseEnv, { quiet: true });
    await seedDemoData(databaseEnv);
    await seedScale(databaseEnv, SCALE);

    const names = ['gateway', ...SERVICES, ...(options.extraPorts ?? [])];
    const ports = Object.fromEntries(await Promise.all(names.map(async (name) => [name, await freePort()] as const)));
    const processes = planStack(Object.fromEntries(['gateway', ...SERVICES].map((name) => [`${name.toUpperCase()}_PORT`, String(ports[name])])));
    const supergraphFile = writeSupergraph(SUPERGRAPH, ports, scratch);

    const key = await testSigningKey();
    const internalKeys = Object.fromEntries(await Promise.all(SERVICES.map(async (service) => [service, (await testSigningKey()).privateKey] as const)));
    const env: NodeJS.ProcessEnv = {
      ...databaseEnv,
      NODE_ENV: 'production',
      // As the images run: Node's compile cache, which the launcher gives `npm start` for quicker starts,
      // holds 6–12 MB more per process (docs/performance.md, "What each step saved", 9).
      NODE_DISABLE_COMPILE_CACHE: '1',
      LOG_LEVEL: 'warn',
      HOST,
      METRICS_PORT: '0',
      ...developmentPasswordSettings(),
      JWT_PRIVATE_KEY: key.privateKey,
      THROTTLE_KEY_SECRET: randomBytes(32).toString('base64url'),
      JWT_PUBLIC_KEY: JSON.stringify(key.publicJwk),
      GATEWAY_PRIVATE_KEY: key.privateKey,
      // The peer gateways cannot sign our assertion; the subgraphs take every caller, for ours too (whose
      // check, once per token, is a map lookup per request).
      REQUIRE_GATEWAY: 'false',
      ...routing(processes, HOST, {}),
      SUPERGRAPH_FILE: supergraphFile,
      GATEWAY_WORKERS: String(options.workers),
      // For the row that shows what it does (identical requests in flight); the other rows have none to share.
      DEDUPLICATE_QUERIES: 'true',
    };
    const start = async (node: NodeFor, root?: string, extra: ExtraEnv = {}) => {
      for (const target of processes) {
        // Another checkout (the baseline) runs as it ran then, without today's Node options.
        const planned = root ? { ...target, entry: path.join(root, target.entry), nodeOptions: [] } : target;
        const child = startProcess(
          planned,
          {
            ...env,
            ...(typeof extra === 'function' ? extra(target.name) : extra),
            ...(target.name === 'gateway' ? {} : { INTERNAL_PRIVATE_KEY: internalKeys[target.name] }),
          },
          undefined,
          typeof node === 'string' ? node : node(target.name),
        );
        children.set(target.name, child);
        await waitUntilReady(target, HOST, child);
      }
    };
    const stop = async () => {
      await Promise.all(
        processes
          .map((target) => children.get(target.name))
          .filter((child): child is ChildProcess => child !== undefined)
          .map(stopProcess),
      );
      for (const target of processes) children.delete(target.name);
    };
    await start(options.node ?? process.execPath);

    const gatewayUrl = `http://${HOST}:${ports.gateway}/graphql`;
    const authDatabase = ownerUrlFor('auth', databaseEnv);
    const userIds = (
      await queryAt<{ id: string }>(authDatabase, `SELECT id FROM auth.users WHERE email LIKE 'bench-%' ORDER BY created_at DESC LIMIT $1`, [USERS])
    ).map((row) => row.id);
    const [admin] = await queryAt<{ id: string }>(authDatabase, 'SELECT id FROM auth.users WHERE email = $1', [DEMO_ADMIN.email]);
    const [adminSession, ...userSessions] = await sessionsFor([(admin as { id: string }).id, ...userIds], authDatabase);
    tokens = await signedIn(key.privateKey, userSessions, adminSession as Session);
    return { layout, databaseEnv, scratch, supergraphFile, ports, gatewayUrl, processes, tokens, userIds, children, start, stop, close };
  } catch (error) {
    await close();
    throw error;
  }
}
