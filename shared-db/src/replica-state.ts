// What a service's servers report of themselves for the replicas' checks, the checks' connection, and refusing at start a replica that is not one.
import pg from 'pg';
import { ConfigError, StartupError } from '@fedstack/runtime';
import type { ReplicaConnection } from './config';
import { describeTarget, explainConnectionError, isDatabaseUnavailable } from './errors';
import { boundedPool } from './pool-bounds';

/**
 * A server that does not connect, or answer a check, within this is down for now, and reads go to the
 * primary. Answering matters as much as connecting: a frozen host or a network that drops packets
 * accepts connections or holds them open without answering, and no error ever comes.
 */
const REPLICA_CHECK_TIMEOUT_MS = 1000;

/** What PostgreSQL reports of itself for the checks: a primary's WAL position and clock, a standby's replay. */
export interface PrimaryState {
  lsn: string;
  clock_ms: number;
  system: string;
  database: string;
}
export interface StandbyState {
  standby: boolean;
  replayed: string | null;
  replayed_commit_ms: number | null;
  system: string;
  database: string;
}

export const PRIMARY_STATE = `SELECT pg_current_wal_lsn()::text AS lsn, (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS clock_ms,
                              (SELECT system_identifier::text FROM pg_control_system()) AS system, current_database() AS database`;
export const STANDBY_STATE = `SELECT pg_is_in_recovery() AS standby, pg_last_wal_replay_lsn()::text AS replayed,
                              (extract(epoch FROM pg_last_xact_replay_timestamp()) * 1000)::float8 AS replayed_commit_ms,
                              (SELECT system_identifier::text FROM pg_control_system()) AS system, current_database() AS database`;

/**
 * Refuses, naming the setting, a replica that answers but is not a standby of the primary's cluster
 * (reads from it would never see the primary's writes), names another database than the service's, or
 * refuses the service's role. One that cannot be reached, or lacks the database (not yet replayed), is
 * not refused: it is skipped until it answers.
 */
export async function verifyReplicas(primaryMonitor: pg.Pool, replicas: { connection: ReplicaConnection; monitor: pg.Pool }[]): Promise<void> {
  let primary: PrimaryState;
  try {
    primary = (await primaryMonitor.query<PrimaryState>(PRIMARY_STATE)).rows[0] as PrimaryState;
  } catch (error) {
    if (!isDatabaseUnavailable(error)) throw error;
    throw new StartupError(`the service's database did not answer within ${REPLICA_CHECK_TIMEOUT_MS} ms while its replicas were checked`);
  }
  for (const { connection, monitor } of replicas) {
    let state: StandbyState;
    try {
      state = (await monitor.query<StandbyState>(STANDBY_STATE)).rows[0] as StandbyState;
    } catch (error) {
      // Unreachable or not answering, or without the database yet (created on the primary a moment ago, not yet replayed): skipped until it answers.
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

/** One connection, for checks: one that is gone or does not answer is replaced at the next check, and fails fast meanwhile. */
export function monitorPool(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 1, ...boundedPool(REPLICA_CHECK_TIMEOUT_MS), query_timeout: REPLICA_CHECK_TIMEOUT_MS });
  pool.on('error', () => undefined);
  pool.on('connect', (connection) => connection.on('error', () => undefined));
  return pool;
}
