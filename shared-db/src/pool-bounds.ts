// How long a service's statements may wait on its database, and how a connection whose server has vanished is noticed.
import type pg from 'pg';

/**
 * DB_TIMEOUT_MS unless set: below the gateway's 10 s for a subgraph call, so that a database that does
 * not answer reaches the client, and the gateway's circuit breaker, as the subgraph's own 503 first.
 */
export const DATABASE_TIMEOUT_MS = 5000;
/** Probes an idle connection after this long, so that one whose server has vanished is dropped before a statement picks it. */
export const KEEP_ALIVE_DELAY_MS = 10_000;
/**
 * The server ends a session left inside a transaction this long (its process frozen, its network gone),
 * and with it the locks it held, which would otherwise stop every writer of those rows for as long.
 */
const IDLE_IN_TRANSACTION_MS = 60_000;

/**
 * A pool's bounds on a service's primary. A frozen server, or one behind a network that drops packets,
 * answers nothing and raises no error: without bounds every statement waited for it, in the pool's queue
 * or on a connection, for as long as it was gone (or for ever), and all ran when it came back, long after
 * their clients were told they had failed (found in review: 445 payments committed at a frozen server's
 * thaw). With them a statement waits at most `timeoutMs` for a connection of the pool and as long to run
 * (the server stops it then; the connection is dropped a second later if even that does not come back),
 * and the client's error says the database is unavailable.
 */
export function boundedPool(timeoutMs: number): pg.PoolConfig {
  return {
    connectionTimeoutMillis: timeoutMs,
    statement_timeout: timeoutMs,
    query_timeout: timeoutMs + 1000,
    idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_MS,
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEP_ALIVE_DELAY_MS,
  };
}
