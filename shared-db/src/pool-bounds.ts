// How long a service's statements may wait for a connection to its database, how a connection whose server has vanished is noticed, and one that ended while held is given back.
import type pg from 'pg';

/**
 * DB_POOL_TIMEOUT_MS unless set: below the gateway's 10 s for a subgraph call, so that a database that
 * does not answer reaches the client, and the gateway's circuit breaker, as the subgraph's own 503 first.
 */
export const POOL_TIMEOUT_MS = 5000;
/**
 * Probes an idle or waiting connection after this long without traffic (then every second, ten times),
 * so that one whose server vanished (a host gone, a network cut) fails in about 20 s rather than the
 * kernel's 15 minutes, or never for a connection that has sent everything and waits for an answer.
 */
const KEEP_ALIVE_DELAY_MS = 10_000;
/**
 * The server ends a session left inside a transaction this long (its process frozen, its network gone),
 * and with it the locks it held, which would otherwise stop every writer of those rows for as long.
 */
const IDLE_IN_TRANSACTION_MS = 60_000;

/**
 * A pool's bounds on a service's database (its replicas' pools add their own on top). A frozen server, or one behind a network that drops packets,
 * answers nothing and raises no error: without bounds every statement waited for a connection for as
 * long as it was gone (or for ever), and the queue all ran when it came back, long after its clients were
 * told they had failed (found in review: 445 payments committed at a frozen server's thaw). With them a
 * statement waits at most `timeoutMs` for a connection, free or new, and fails as the database being
 * unavailable. A statement already sent is not cut short: it may be waiting on a lock for as long as an
 * erasure holds one (30 s), and one given up on by the client would still run on the server.
 */
export function boundedPool(timeoutMs: number): pg.PoolConfig {
  return {
    connectionTimeoutMillis: timeoutMs,
    idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_MS,
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEP_ALIVE_DELAY_MS,
  };
}

/** How long a holder has to give back a connection that ended under it before the pool takes it back. */
const ABANDONED_AFTER_MS = 1000;

/**
 * Gives back to `pool` a connection that ended while it was checked out and that its holder did not give
 * back within a second. Prisma's driver adapter gives a transaction's connection back only after a
 * ROLLBACK or COMMIT that succeeds, and one whose session ended (a restart, a failover, the server's
 * limit on a transaction left idle) can do neither: its slot of the pool was gone until the process
 * restarted. `giveBack` is for the holders that release their own: it releases what is still theirs.
 */
export function reclaimEnded(pool: pg.Pool): { giveBack(connection: pg.PoolClient, error?: Error): void } {
  const held = new WeakSet<pg.PoolClient>();
  pool.on('acquire', (connection) => held.add(connection));
  pool.on('release', (_error, connection) => held.delete(connection));
  pool.on('connect', (connection) =>
    connection.on('end', () => {
      setTimeout(() => {
        if (held.has(connection)) connection.release(new Error('the connection ended while it was checked out'));
      }, ABANDONED_AFTER_MS).unref();
    }),
  );
  return {
    giveBack(connection, error) {
      if (held.has(connection)) connection.release(error);
    },
  };
}
