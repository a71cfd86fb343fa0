// Which of a service's streaming replicas may serve a read that may be a little behind, and the primary when none may.
import pg from 'pg';
import { parseLsn } from '@fedstack/runtime';
import type { ReplicaConnection } from './config';
import { describeTarget, isDatabaseUnavailable } from './errors';
import { boundedPool } from './pool-bounds';
import { PRIMARY_STATE, STANDBY_STATE, monitorPool, verifyReplicas, type PrimaryState, type StandbyState } from './replica-state';

/** How often the replicas' state is read: their lag is known to this, and a replica that is back is used again within it. */
export const REPLICA_CHECK_INTERVAL_MS = 250;
/**
 * How long a read may take on a replica before the primary serves it instead: far longer than any read
 * the services send there takes. The replica stops the statement itself then (`statement_timeout`, so
 * that it does not go on working for nobody); one that has not answered a second later (a frozen host, a
 * network that drops packets: no error ever comes) is treated as gone.
 */
export const REPLICA_READ_TIMEOUT_MS = 5000;

/**
 * The pool of reads on one replica (`extra`: the primary pool's instrumentation). A replica that fails is
 * skipped for the primary (the router's to tell), not reported as an outage, and its reads may be cut
 * short: the primary can serve them instead.
 */
export function replicaReadPool(url: string, size: number, readTimeoutMs: number, extra: pg.PoolConfig): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: size,
    ...boundedPool(1000),
    statement_timeout: readTimeoutMs,
    query_timeout: readTimeoutMs + 1000,
    ...extra,
  });
  pool.on('connect', (connection) => connection.on('error', () => undefined));
  pool.on('error', () => undefined);
  return pool;
}

/** What is known of one replica, as of the last check. */
export interface ReplicaStats {
  /** Where it is (no password) and the setting that named it. */
  target: string;
  setting: string;
  /** It answered the last check, is a standby of this primary, and is within the lag bound. */
  usable: boolean;
  /** How far behind the primary it was: WAL bytes it had yet to replay, and for how long at most it had (undefined: never reached). */
  lagBytes: number | undefined;
  lagMs: number | undefined;
}

/** Reads served, since the client was made, by the primary and by a replica. */
export interface ReadsServed {
  primary: number;
  replica: number;
}

interface Replica {
  connection: ReplicaConnection;
  /** The pool reads use, as the service's role. */
  pool: pg.Pool;
  /** A connection of its own for the checks, so that they wait on no read and count in no statement metric. */
  monitor: pg.Pool;
  usable: boolean;
  lagBytes: number | undefined;
  lagMs: number | undefined;
  /** The check under way, if any: each replica's own, so that one that does not answer holds back no other's. */
  checking: Promise<void> | undefined;
  /** Reads that found it gone since one it served, and until when it is skipped for them, whatever its checks say. */
  readFailures: number;
  skippedUntil: number;
}

/**
 * How long a replica a read found gone is skipped, doubling while reads keep finding it so, to a minute: it
 * can answer its checks on the connection they hold and still take no new one (its postmaster frozen, a
 * proxy in front of a dead standby), and every read then waited a second to connect before the primary
 * served it.
 */
const SKIPPED_AFTER_FAILED_READ_MS = 5_000;
const SKIPPED_AT_MOST_MS = 60_000;

/** The primary as one check read it: its state, its WAL position, and when. */
interface PrimarySample {
  state: PrimaryState;
  lsn: bigint;
  at: number;
}

type Queryable = Pick<pg.Pool, 'query'>;

/**
 * A replica's read failed for a reason the primary would not share: the replica is gone, replay
 * cancelled the statement (40001), or it took longer than its reads may (57014, its `statement_timeout`).
 */
function replicaFailure(error: unknown): boolean {
  const { code } = error as { code?: unknown };
  return isDatabaseUnavailable(error) || code === '40001' || code === '57014';
}

/**
 * How far each replica connection's server had replayed when last asked. A position names a server's
 * own history, and one address may lead to several servers (a Kubernetes service over a cluster's
 * standbys): what the checks' connection saw says nothing of another connection's server, while a
 * connection stays with its server and a server's replay only moves forward.
 */
const replayedOn = new WeakMap<pg.PoolClient, bigint>();

/**
 * A service's replicas and how to use them. Every `REPLICA_CHECK_INTERVAL_MS` it reads the primary's WAL
 * position and clock, and each replica's replay position and last replayed commit's time: a replica's lag
 * is the shorter of how long ago the primary was at a position the replica has since replayed, and how
 * long ago the last commit it replayed was made (the primary's clock both times); none when it has replayed
 * all the primary had. A replica is used while it answers, is a standby of the same cluster, and its lag is
 * within the bound; a read that finds it gone goes to the primary, and it is skipped for a while
 * (SKIPPED_AFTER_FAILED_READ_MS), then until a check answers.
 */
export class ReplicaRouter {
  private readonly replicas: Replica[];
  private readonly samples: { at: number; lsn: bigint }[] = [];
  private next = 0;
  private readonly timer: NodeJS.Timeout;
  private sampling: Promise<PrimarySample | undefined> | undefined;
  readonly served: ReadsServed = { primary: 0, replica: 0 };

  constructor(
    private readonly primary: Queryable,
    private readonly primaryMonitor: pg.Pool,
    replicas: { connection: ReplicaConnection; pool: pg.Pool }[],
    private readonly maxLagMs: number,
  ) {
    this.replicas = replicas.map(({ connection, pool }) => ({
      connection,
      pool,
      monitor: monitorPool(connection.url),
      usable: false,
      lagBytes: undefined,
      lagMs: undefined,
      checking: undefined,
      readFailures: 0,
      skippedUntil: 0,
    }));
    void this.check();
    this.timer = setInterval(() => void this.check(), REPLICA_CHECK_INTERVAL_MS).unref();
  }

  /**
   * One round of checks: the primary's position, then each replica not still in its last check. At
   * most one of each at a time, and none waits on another replica.
   */
  check(): Promise<void> {
    this.sampling ??= this.samplePrimary().finally(() => (this.sampling = undefined));
    const sampled = this.sampling;
    const checks = this.replicas.map(
      (replica) =>
        (replica.checking ??= sampled.then((primary) => primary && this.checkReplica(replica, primary)).finally(() => (replica.checking = undefined))),
    );
    return Promise.all(checks).then(() => undefined);
  }

  private async samplePrimary(): Promise<PrimarySample | undefined> {
    const at = performance.now();
    let state: PrimaryState;
    try {
      state = (await this.primaryMonitor.query<PrimaryState>(PRIMARY_STATE)).rows[0] as PrimaryState;
    } catch {
      // The primary's outage is reported by its own pool; the replicas keep the state they had.
      return undefined;
    }
    const lsn = parseLsn(state.lsn) as bigint;
    this.samples.push({ at, lsn });
    // Samples older than the bound can only say a replica is past it.
    while ((this.samples[0]?.at ?? at) < at - this.maxLagMs - 2 * REPLICA_CHECK_INTERVAL_MS) this.samples.shift();
    return { state, lsn, at };
  }

  private async checkReplica(replica: Replica, { state: primary, lsn: primaryLsn, at }: PrimarySample): Promise<void> {
    let state: StandbyState;
    try {
      state = (await replica.monitor.query<StandbyState>(STANDBY_STATE)).rows[0] as StandbyState;
    } catch {
      // How far behind it is cannot be known: its lag is shown as absent, not as it last was.
      replica.usable = false;
      replica.lagBytes = replica.lagMs = undefined;
      return;
    }
    const replayed = state.replayed === null ? undefined : parseLsn(state.replayed);
    if (replayed === undefined) {
      replica.lagBytes = replica.lagMs = undefined;
    } else if (replayed >= primaryLsn) {
      replica.lagBytes = replica.lagMs = 0;
    } else {
      replica.lagBytes = Number(primaryLsn - replayed);
      const passed = this.samples.findLast((sample) => replayed >= sample.lsn);
      const bounds = [
        ...(passed ? [at - passed.at] : []),
        ...(state.replayed_commit_ms === null ? [] : [Math.max(0, primary.clock_ms - state.replayed_commit_ms)]),
      ];
      replica.lagMs = bounds.length > 0 ? Math.min(...bounds) : Number.POSITIVE_INFINITY;
    }
    replica.usable =
      state.standby &&
      state.system === primary.system &&
      replica.lagMs !== undefined &&
      replica.lagMs <= this.maxLagMs &&
      performance.now() >= replica.skippedUntil;
  }

  /**
   * Refuses, naming the setting, a replica that answers but is not a standby of the primary's cluster,
   * names another database, or refuses the service's role (see `verifyReplicas`).
   */
  verify(): Promise<void> {
    return verifyReplicas(this.primaryMonitor, this.replicas);
  }

  /**
   * Runs a read on a usable replica, round-robin, or on the primary. With `minLsn` (a position the
   * primary reached after the caller's write), a replica serves it only once it has replayed that far,
   * as the connection that would run it knows (`replayedOn`) or asks its server.
   */
  async read<R>(run: (on: Queryable) => Promise<R>, minLsn?: bigint): Promise<R> {
    const replica = this.pick();
    if (replica) {
      try {
        const result = await this.onReplica(replica, run, minLsn);
        if (result) {
          this.served.replica += 1;
          replica.readFailures = 0;
          return result.value;
        }
      } catch (error) {
        if (!replicaFailure(error)) throw error;
        if (isDatabaseUnavailable(error)) {
          replica.readFailures += 1;
          replica.skippedUntil = performance.now() + Math.min(SKIPPED_AT_MOST_MS, SKIPPED_AFTER_FAILED_READ_MS * 2 ** (replica.readFailures - 1));
          replica.usable = false;
        }
      }
    }
    this.served.primary += 1;
    return run(this.primary);
  }

  private async onReplica<R>(replica: Replica, run: (on: Queryable) => Promise<R>, minLsn: bigint | undefined): Promise<{ value: R } | undefined> {
    if (minLsn === undefined) return { value: await run(replica.pool) };
    const connection = await replica.pool.connect();
    let broken: Error | undefined;
    try {
      if ((replayedOn.get(connection) ?? -1n) < minLsn) {
        const [row] = (await connection.query<{ replayed: string | null }>('SELECT pg_last_wal_replay_lsn()::text AS replayed')).rows;
        const replayed = row?.replayed ? parseLsn(row.replayed) : undefined;
        if (replayed === undefined || replayed < minLsn) return undefined;
        replayedOn.set(connection, replayed);
      }
      return { value: await run(connection) };
    } catch (error) {
      if (isDatabaseUnavailable(error)) broken = error as Error;
      throw error;
    } finally {
      connection.release(broken);
    }
  }

  /** The next usable replica after the last one used. */
  private pick(): Replica | undefined {
    for (let tried = 0; tried < this.replicas.length; tried += 1) {
      const replica = this.replicas[(this.next + tried) % this.replicas.length] as Replica;
      if (replica.usable) {
        this.next = (this.next + tried + 1) % this.replicas.length;
        return replica;
      }
    }
    return undefined;
  }

  stats(): ReplicaStats[] {
    return this.replicas.map(({ connection, usable, lagBytes, lagMs }) => ({
      target: describeTarget(connection.url),
      setting: connection.source,
      usable,
      lagBytes,
      lagMs,
    }));
  }

  /** Stops checking and closes the checks' connections (the read pools are their owner's). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([this.sampling, ...this.replicas.map((replica) => replica.checking)]);
    await Promise.all([this.primaryMonitor, ...this.replicas.map((replica) => replica.monitor)].map((pool) => pool.end()));
  }
}
