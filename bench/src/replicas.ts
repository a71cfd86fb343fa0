// The benchmark's read-replica rows (issue 24): the realistic mix on our stack with one streaming replica of its
// embedded PostgreSQL, clients carrying their WAL positions or not, with each server's CPU and where the reads went.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { SERVICES, freePort, isService } from '@fedstack/runtime';
import { ownerUrlFor, serviceConnection, serviceReplicaUrlVariable, startEmbeddedReplica } from '@fedstack/shared-db';
import { postgresServer, treeOf, type CpuGroup } from './cpu';
import { drive } from './load';
import { measure, type MeasureOptions, type System } from './measure';
import { MIX, requests } from './mix';
import type { Row } from './report';
import { PRIMARY_CPU, REPLICA_CARRYING, REPLICA_CPU, REPLICA_NOT_CARRYING, SENT, SENT_WITH_POSITIONS, type ReplicaSection } from './replicas-report';
import { HOST, type BenchStack, type NodeFor } from './stack';

/** The embedded server the stack's databases are on, as a CPU group (its postmaster's tree); none on DATABASE_URL's server. */
export async function primaryCpu(stack: BenchStack): Promise<CpuGroup | undefined> {
  if (process.env.DATABASE_URL) return undefined;
  return postgresServer(ownerUrlFor('auth', stack.databaseEnv), PRIMARY_CPU);
}

/**
 * The settings that give every service the replica on `port` as its database's: DATABASE_REPLICA_URL for
 * those on DATABASE_URL (the shared layout), `<SERVICE>_DATABASE_REPLICA_URL` for those with a database of
 * their own (the split layout as the benchmark sets it up). The same owner and databases: a physical
 * replica holds every database of its primary.
 */
function replicaSettings(env: NodeJS.ProcessEnv, port: number): NodeJS.ProcessEnv {
  const onReplica = (url: string) => {
    const replica = new URL(url);
    replica.port = String(port);
    return replica.toString();
  };
  const settings: NodeJS.ProcessEnv = {};
  for (const service of SERVICES) {
    const { source } = serviceConnection(service, env);
    if (source === 'DATABASE_URL') settings.DATABASE_REPLICA_URL = onReplica(env.DATABASE_URL as string);
    else settings[serviceReplicaUrlVariable(service)] = onReplica(env[source] as string);
  }
  return settings;
}

/** `db_possibly_stale_reads_total` of each subgraph's /metrics, as `<service>:<served_by>` (primary, replica). */
async function staleReads(metricsPorts: Record<string, number>): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  await Promise.all(
    Object.entries(metricsPorts).map(async ([service, port]) => {
      const text = await (await fetch(`http://${HOST}:${port}/metrics`)).text();
      for (const [, labels = '', value] of text.matchAll(/^db_possibly_stale_reads_total\{([^}]*)\}\s+(\S+)/gm)) {
        const servedBy = /served_by="([^"]*)"/.exec(labels)?.[1];
        if (servedBy) counts[`${service}:${servedBy}`] = (counts[`${service}:${servedBy}`] ?? 0) + Number(value);
      }
    }),
  );
  return counts;
}

/**
 * The realistic mix with one streaming replica of the stack's embedded PostgreSQL (made from it by a
 * base backup, on a port of its own, dropped afterwards): our stack restarted on `node` with the replica
 * given to every service, and two loads taking turns within each round, clients carrying their positions
 * and clients sending none, so that their difference is what the check of positions costs. The stack is
 * left running on `node` without the replica. On DATABASE_URL's server there is no embedded server to
 * replicate (and its version may not be the embedded binaries'): no rows, and the reason.
 */
export async function replicaRows(
  stack: BenchStack,
  options: MeasureOptions & { node: NodeFor; runtime: string; via: string; onAnswer?: (body: string) => void },
): Promise<ReplicaSection> {
  if (process.env.DATABASE_URL) {
    return {
      rows: [],
      skipped:
        "not measured: these rows need the embedded PostgreSQL, of which they start a streaming replica, and this run was on DATABASE_URL's server (run without DATABASE_URL)",
    };
  }
  console.log('read replicas: making a streaming replica of the embedded PostgreSQL…');
  const primaryUrl = ownerUrlFor('auth', stack.databaseEnv);
  const port = await freePort();
  const replica = await startEmbeddedReplica({
    primaryUrl,
    // Not under the stack's scratch directory, which the server's own user (as root, `postgres`) cannot enter.
    dataDir: path.join(os.tmpdir(), `fedstack-bench-replica-${randomBytes(4).toString('hex')}`),
    port,
    ephemeral: true,
  });
  let rows: Row[];
  try {
    const replicaEnv = replicaSettings(stack.databaseEnv, port);
    const metricsPorts = Object.fromEntries(await Promise.all(SERVICES.map(async (service) => [service, await freePort()] as const)));
    await stack.stop();
    await stack.start(options.node, undefined, (name) => ({ ...replicaEnv, ...(isService(name) ? { METRICS_PORT: String(metricsPorts[name]) } : {}) }));
    const [primaryServer, replicaServer] = [await postgresServer(primaryUrl, PRIMARY_CPU), treeOf(REPLICA_CPU, replica.pid)];
    const cpu: CpuGroup[] = [
      ...['gateway', ...SERVICES].map((name) => treeOf(name, stack.children.get(name)?.pid as number)),
      // Both servers, as the other rows' `postgres` is their one server.
      { name: 'postgres', pids: () => [...primaryServer.pids(), ...replicaServer.pids()] },
      primaryServer,
      replicaServer,
    ];
    const system: System = { via: options.via, runtime: options.runtime, url: stack.gatewayUrl, cpu, counters: () => staleReads(metricsPorts) };
    // The stack was just restarted: warm it (its JIT, its pools, the replica's cache) before either load is
    // measured, so that the first to be measured is not the colder; then they alternate which goes first.
    console.log(`read replicas: warming the restarted stack for ${2 * options.warmupSeconds} s…`);
    const warming = { via: options.via, url: stack.gatewayUrl, next: requests(MIX, stack.tokens, { everyOperation: true }) };
    await drive(options.onAnswer ? { ...warming, onAnswer: options.onAnswer } : warming, 2 * options.warmupSeconds, options.connections);
    // What the clients sent: that positions did come back from the gateway to be carried.
    const tally = { requests: 0, withPositions: 0 };
    rows = await measure(
      REPLICA_CARRYING,
      [
        {
          ...system,
          load: { label: REPLICA_CARRYING, next: () => requests(MIX, stack.tokens, { carryPositions: true, tally, everyOperation: true }) },
          counters: async () => ({ ...(await staleReads(metricsPorts)), [SENT]: tally.requests, [SENT_WITH_POSITIONS]: tally.withPositions }),
        },
        { ...system, load: { label: REPLICA_NOT_CARRYING, next: () => requests(MIX, stack.tokens, { everyOperation: true }) } },
      ],
      () => requests(MIX, stack.tokens),
      { ...options, alternate: true },
      options.onAnswer,
    );
  } finally {
    await stack.stop();
    await replica.stop();
  }
  await stack.start(options.node);
  return { rows };
}
