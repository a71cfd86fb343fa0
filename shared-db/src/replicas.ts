// Which of a service's streaming replicas may serve a read that may be a little behind, and the primary when none may.
import pg from 'pg';
import { ConfigError, parseLsn } from '@fedstack/runtime';
import type { ReplicaConnection } from './config';
import { describeTarget, explainConnectionError, isDatabaseUnavailable } from './errors';

/** How often the replicas' state is read: their lag is known to this, and a replica that is back is used again within it. */
export const REPLICA_CHECK_INTERVAL_MS = 250;
/** A replica that does not connect within this is down for now, and the read goes to the primary. */
const REPLICA_CONNECT_TIMEOUT_MS = 1000;

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
  replayed: bigint | undefined;
  lagBytes: number | undefined;
  lagMs: number | undefined;
}

type Queryable = Pick<pg.Pool, 'query'>;

/** What PostgreSQL reports of itself for the checks: a primary's WAL position and clock, a standby's replay. */
interface PrimaryState {
  lsn: string;
  clock_ms: number;
  system: string;
  database: string;
}
interface StandbyState {
  standby: boolean;
  replayed: string | null;
  replayed_commit_ms: number | null;
  system: string;
  database: string;
}

const PRIMARY_STATE = `SELECT pg_current_wal_lsn()::text AS lsn, (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS clock_ms,
                              (SELECT system_identifier::text FROM pg_control_system()) AS system, current_database() AS database`;
const STANDBY_STATE = `SELECT pg_is_in_recovery() AS standby, pg_last_wal_replay_lsn()::text AS replayed,
                              (extract(epoch FROM pg_last_xact_replay_timestamp()) * 1000)::float8 AS replayed_commit_ms,
                              (SELECT system_identifier::text FROM pg_control_system()) AS system, current_database() AS database`;

/** A replica's read failed for a reason the primary would not share: the replica is gone, or replay cancelled the statement. */
function replicaFailure(error: unknown): boolean {
  return isDatabaseUnavailable(error) || (error as { code?: unknown }).code === '40001';
}

/**
 * A service's replicas and how to use them. Every `REPLICA_CHECK_INTERVAL_MS` it reads the primary's WAL
 * position and clock, and each replica's replay position and last replayed commit's time: a replica's lag
 * is the shorter of how long ago the primary was at a position the replica has since replayed, and how
 * long ago the last commit it replayed was made (the primary's clock both times); none when it has replayed
 * all the primary had. A replica is used while it answers, is a standby of the same cluster, and its lag is
 * within the bound; a read that finds it gone goes to the primary, and it is skipped until a check answers.
 */
export class ReplicaRouter {
  private readonly replicas: Replica[];
  private readonly samples: { at: number; lsn: bigint }[] = [];
  private next = 0;
  private readonly timer: NodeJS.Timeout;
  private checking: Promise<void> | undefined;
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
      replayed: undefined,
      lagBytes: undefined,
      lagMs: undefined,
    }));
    void this.check();
    this.timer = setInterval(() => void this.check(), REPLICA_CHECK_INTERVAL_MS).unref();
  }

  /** One round of checks (at most one at a time). */
  check(): Promise<void> {
    this.checking ??= this.checkAll().finally(() => (this.checking = undefined));
    return this.checking;
  }

  private async checkAll(): Promise<void> {
    const at = performance.now();
    let primary: PrimaryState;
    try {
      primary = (await this.primaryMonitor.query<PrimaryState>(PRIMARY_STATE)).rows[0] as PrimaryState;
    } catch {
      // The primary's outage is reported by its own pool; the replicas keep the state they had.
      return;
    }
    const primaryLsn = parseLsn(primary.lsn) as bigint;
    this.samples.push({ at, lsn: primaryLsn });
    // Samples older than the bound can only say a replica is past it.
    while ((this.samples[0]?.at ?? at) < at - this.maxLagMs - 2 * REPLICA_CHECK_INTERVAL_MS) this.samples.shift();
    await Promise.all(this.replicas.map((replica) => this.checkReplica(replica, primary, primaryLsn, at)));
  }

  private async checkReplica(replica: Replica, primary: PrimaryState, primaryLsn: bigint, at: number): Promise<void> {
    let state: StandbyState;
    try {
      state = (await replica.monitor.query<StandbyState>(STANDBY_STATE)).rows[0] as StandbyState;
    } catch {
      replica.usable = false;
      return;
    }
    const replayed = state.replayed === null ? undefined : parseLsn(state.replayed);
    replica.replayed = replayed;
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
    replica.usable = state.standby && state.system === primary.system && replica.lagMs !== undefined && replica.lagMs <= this.maxLagMs;
  }

  /**
   * Refuses, naming the setting, a replica that answers but is not a standby of the primary's cluster
   * (reads from it would never see the primary's writes), names another database than the service's, or
   * refuses the service's role. One that cannot be reached, or lacks the database (not yet replayed), is
   * not refused: it is skipped until it answers.
   */
  async verify(): Promise<void> {
    const primary = (await this.primaryMonitor.query<PrimaryState>(PRIMARY_STATE)).rows[0] as PrimaryState;
    for (const { connection, monitor } of this.replicas) {
      let state: StandbyState;
      try {
        state = (await monitor.query<StandbyState>(STANDBY_STATE)).rows[0] as StandbyState;
      } catch (error) {
        // Unreachable, or without the database yet (created on the primary a moment ago, not yet replayed): skipped until it answers.
        if (isDatabaseUnavailable(error) || (error as { code?: unknown }).code === '3D000') continue;
        // Refused rather than unreachable (the password, the user): a setting to correct.
        throw explainConnectionError(error, connection.url, connection.source);
      }
      const target = describeTarget(connection.url);
      if (!state.standby) {
        throw new ConfigError(
          `${connection.source}: ${target} is not a replica (pg_is_in_recovery() is false there): give a streaming replica of the service's database`,
        );
      }
      if (state.system !== primary.system) {
        throw new ConfigError(
          `${connection.source}: ${target} is a replica of another cluster (system identifier ${state.system}; the primary's is ${primary.system})`,
        );
      }
      if (state.database !== primary.database) {
        throw new ConfigError(
          `${connection.source}: ${target} names the database "${state.database}", but the service's is "${primary.database}": a replica holds the primary's databases under the same names`,
        );
      }
    }
  }

  /**
   * Runs a read on a usable replica, round-robin, or on the primary. With `minLsn` (a position the
   * primary reached after the caller's write), a replica serves it only once it has replayed that far:
   * known from the last check, or asked on the connection that would run it.
   */
  async read<R>(run: (on: Queryable) => Promise<R>, minLsn?: bigint): Promise<R> {
    const replica = this.pick();
    if (replica) {
      try {
        const result = await this.onReplica(replica, run, minLsn);
        if (result) {
          this.served.replica += 1;
          return result.value;
        }
      } catch (error) {
        if (!replicaFailure(error)) throw error;
        if (isDatabaseUnavailable(error)) replica.usable = false;
      }
    }
    this.served.primary += 1;
    return run(this.primary);
  }

  private async onReplica<R>(replica: Replica, run: (on: Queryable) => Promise<R>, minLsn: bigint | undefined): Promise<{ value: R } | undefined> {
    if (minLsn === undefined || (replica.replayed !== undefined && replica.replayed >= minLsn)) return { value: await run(replica.pool) };
    const connection = await replica.pool.connect();
    let broken: Error | undefined;
    try {
      const [row] = (await connection.query<{ replayed: string | null }>('SELECT pg_last_wal_replay_lsn()::text AS replayed')).rows;
      const replayed = row?.replayed ? parseLsn(row.replayed) : undefined;
      if (replayed === undefined || replayed < minLsn) return undefined;
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
    await this.checking;
    await Promise.all([this.primaryMonitor, ...this.replicas.map((replica) => replica.monitor)].map((pool) => pool.end()));
  }
}

/** One connection, for checks: one that is gone is replaced at the next check, and fails fast meanwhile. */
export function monitorPool(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 1, connectionTimeoutMillis: REPLICA_CONNECT_TIMEOUT_MS });
  pool.on('error', () => undefined);
  pool.on('connect', (connection) => connection.on('error', () => undefined));
  return pool;
}
