// A service's Prisma client, generated from that service's schema alone: a payments resolver cannot even
// write `db.user`, and no query it builds names another service's schema.
import pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import type { PrismaClient as AdminPrismaClient, Prisma as AdminPrisma } from './generated/admin/client';
import type { PrismaClient as AuthPrismaClient, Prisma as AuthPrisma } from './generated/auth/client';
import type { PrismaClient as PaymentsPrismaClient, Prisma as PaymentsPrisma } from './generated/payments/client';
import type { PrismaClient as ProfilePrismaClient, Prisma as ProfilePrisma } from './generated/profile/client';
import { replicaMaxLagMs, serviceConnection, serviceReplicaConnections, type ReplicaConnection } from './config';
import { POOL_TIMEOUT_MS, boundedPool, reclaimEnded } from './pool-bounds';
import { monitorPool } from './replica-state';
import { REPLICA_READ_TIMEOUT_MS, ReplicaRouter, replicaReadPool, type ReadsServed, type ReplicaStats } from './replicas';
import { assertCallerWaiting, parseLsn, type Service } from '@fedstack/runtime';

/** Each service's generated client and its interactive-transaction client: its own models and nothing else. */
interface Generated {
  auth: { client: AuthPrismaClient; transaction: AuthPrisma.TransactionClient };
  profile: { client: ProfilePrismaClient; transaction: ProfilePrisma.TransactionClient };
  payments: { client: PaymentsPrismaClient; transaction: PaymentsPrisma.TransactionClient };
  admin: { client: AdminPrismaClient; transaction: AdminPrisma.TransactionClient };
}

/** How busy a service's connection pool is: connections open, those idle, and callers waiting for one. */
export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
}

/** A statement the hot path runs often: prepared once per connection under its name, then only bound and executed. */
export interface PreparedStatement {
  /** Unique within the service, and always for the same text. */
  name: string;
  text: string;
}

/** One transaction on a connection of the pool, past Prisma: prepared statements, and raw SQL as Prisma's transactions take it. */
export interface SqlTransaction {
  sql<R>(statement: PreparedStatement, values: readonly unknown[]): Promise<R[]>;
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): Promise<T>;
  $executeRawUnsafe(query: string, ...values: unknown[]): Promise<number>;
}

export type ServiceClient<S extends Service> = Generated[S]['client'] & {
  readonly service: S;
  /** True when reads may go to replicas (DATABASE_REPLICA_URL...): only then do writes need to say where the primary was. */
  readonly hasReplicas: boolean;
  poolStats(): PoolStats;
  /**
   * Runs a prepared statement on the client's pool, past Prisma: the few reads every request makes (the
   * account check, the entity loaders), where Prisma's per-query cost was most of the service's CPU.
   * Rows come as node-postgres gives them (uuid and numeric as strings, timestamptz as Date).
   */
  sql<R>(statement: PreparedStatement, values: readonly unknown[]): Promise<R[]>;
  /**
   * Runs `work` in one transaction on a connection of the pool (committed if it returns, rolled back if
   * it throws), for the hot writes (a payment, a profile's save) whose statements were mostly Prisma's own cost.
   */
  sqlTransaction<R>(work: (tx: SqlTransaction) => Promise<R>): Promise<R>;
  /**
   * Runs one statement on the pool, unprepared, past Prisma: for what runs in every process whether or
   * not it serves requests (the readiness check, the metrics scrape, background polls). Prisma's raw
   * methods go through its WebAssembly query compiler, about 20 MB of memory a process otherwise may
   * never need. Rows come as node-postgres gives them, as in `sql`.
   */
  query<R>(text: string, values?: readonly unknown[]): Promise<{ rows: R[]; rowCount: number }>;
  /** Fails unless the database answers (a second to connect, one to answer), on a connection kept apart from the pool for checks (readiness). */
  ping(): Promise<void>;
  /**
   * Runs a prepared statement whose answer may be a little behind (DB_REPLICA_MAX_LAG_MS at most) on a
   * replica, when one is usable, else on the primary (docs/adr/0012-read-replicas.md). `minLsn`, a WAL
   * position from `walPosition()` after the caller's write, sends it to a replica only once that replica
   * has replayed that far, so that the caller sees its write. Without replicas it is `sql`.
   */
  readSql<R>(statement: PreparedStatement, values: readonly unknown[], options?: { minLsn?: string }): Promise<R[]>;
  /** The primary's WAL insert position now (the write position lags a commit made with synchronous_commit off): a replica replayed this far holds every write committed. */
  walPosition(): Promise<string>;
  /** The replicas' state as of their last check, and the reads each side served. */
  replicaStats(): { replicas: ReplicaStats[]; served: ReadsServed };
  /** Refuses, naming the setting, a replica URL that points at a primary, at another cluster, or at a server that refuses the role (start-up). */
  verifyReplicas(): Promise<void>;
};

/** What a service may use inside one of its own transactions. */
export type ServiceTransaction<S extends Service> = Generated[S]['transaction'];

/** One SQL statement as the pool saw it: how long it took and whether it failed. */
export interface QueryEvent {
  service: Service;
  sql: string;
  durationMs: number;
  failed: boolean;
}

export interface ServiceClientOptions {
  /** Connection string; defaults to the service's configured connection (see `serviceConnection`). */
  url?: string;
  /** Connections in this process's pool (and in each replica's). */
  poolSize?: number;
  /** The replicas reads may use; defaults to the service's configured ones when `url` is not given (see `serviceReplicaConnections`). */
  replicas?: ReplicaConnection[];
  /** How far behind a replica may be and still serve reads; defaults to DB_REPLICA_MAX_LAG_MS. */
  replicaMaxLagMs?: number;
  /** How long a statement may wait for a connection of the pool before it fails as the database being unavailable (DB_POOL_TIMEOUT_MS); `POOL_TIMEOUT_MS` unless given. */
  timeoutMs?: number;
  /** How long a replica may take to answer a read before the primary serves it instead; `REPLICA_READ_TIMEOUT_MS` unless given. */
  replicaReadTimeoutMs?: number;
  /** Called after every SQL statement, for metrics and statement counting. */
  onQuery?: (event: QueryEvent) => void;
  /**
   * Called when the pool loses a connection it was not using (the server restarted, failed over or ended
   * the session), once per outage: again only after a connection has been made since.
   */
  onConnectionLost?: (error: Error) => void;
}

type ClientConstructor = new (options: { adapter: PrismaPg }) => object;

// Loaded on demand: a process needs only its own service's generated client.
/* eslint-disable @typescript-eslint/no-require-imports, @typescript-eslint/consistent-type-imports -- see above */
const GENERATED: Record<Service, () => ClientConstructor> = {
  auth: () => (require('./generated/auth/client') as typeof import('./generated/auth/client')).PrismaClient,
  profile: () => (require('./generated/profile/client') as typeof import('./generated/profile/client')).PrismaClient,
  payments: () => (require('./generated/payments/client') as typeof import('./generated/payments/client')).PrismaClient,
  admin: () => (require('./generated/admin/client') as typeof import('./generated/admin/client')).PrismaClient,
};
/* eslint-enable @typescript-eslint/no-require-imports, @typescript-eslint/consistent-type-imports */

function instrumentedClientClass(service: Service, onQuery: (event: QueryEvent) => void): typeof pg.Client {
  return class InstrumentedClient extends pg.Client {
    // pg's query overloads cannot be forwarded precisely; the promise and callback forms are both timed.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- whatever the overload returns
    override query(...args: unknown[]): any {
      const first = args[0] as string | { text?: string } | undefined;
      const sql = typeof first === 'string' ? first : (first?.text ?? '');
      const started = performance.now();
      const report = (failed: boolean) => onQuery({ service, sql, durationMs: performance.now() - started, failed });
      const last = args[args.length - 1];
      if (typeof last === 'function') {
        const callback = last as (error: Error | undefined, result: unknown) => void;
        args[args.length - 1] = (error: Error | undefined, result: unknown) => {
          report(Boolean(error));
          callback(error, result);
        };
        return (super.query as (...a: unknown[]) => unknown)(...args);
      }
      return (super.query as (...a: unknown[]) => Promise<unknown>)(...args).then(
        (result) => {
          report(false);
          return result;
        },
        (error: unknown) => {
          report(true);
          throw error;
        },
      );
    }
  };
}

/**
 * Creates the one Prisma client a service process uses, connected as the service's own role with its
 * own pool. Explicit options win over the environment.
 */
export function createServiceClient<S extends Service>(service: S, options: ServiceClientOptions = {}): ServiceClient<S> {
  const url = options.url ?? serviceConnection(service).url;
  const instrumented = options.onQuery ? { Client: instrumentedClientClass(service, options.onQuery) } : {};
  const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 10, ...boundedPool(options.timeoutMs ?? POOL_TIMEOUT_MS), ...instrumented });
  // A connection the server ends emits 'error' on its client and, if idle, on the pool; with nobody
  // listening that is an uncaught exception, which ends the process. A lost connection is a normal
  // event: an idle one leaves the pool, and a checked-out one fails its next statement, which the
  // caller sees (then it is released as broken and leaves the pool too).
  let outage = false;
  const reclaimed = reclaimEnded(pool);
  pool.on('connect', (connection) => {
    outage = false;
    connection.on('error', () => undefined);
  });
  pool.on('error', (error) => {
    if (outage) return;
    outage = true;
    options.onConnectionLost?.(error);
  });
  const replicas = (options.replicas ?? (options.url ? [] : serviceReplicaConnections(service))).map((connection) => ({
    connection,
    pool: replicaReadPool(connection.url, options.poolSize ?? 10, options.replicaReadTimeoutMs ?? REPLICA_READ_TIMEOUT_MS, instrumented),
  }));
  // A connection of its own for checks (readiness; the primary's position when there are replicas): a pool
  // whose every connection is busy (rows locked, a long erasure) is not the database gone.
  const checks = monitorPool(url);
  const router = replicas.length > 0 ? new ReplicaRouter(pool, checks, replicas, options.replicaMaxLagMs ?? replicaMaxLagMs()) : undefined;
  const served = router?.served ?? { primary: 0, replica: 0 };
  const PrismaClient = GENERATED[service]();
  // The pool is ours to end: Prisma disposes of it only if it ever connected, and `sql` may be all a process used.
  const client = new PrismaClient({ adapter: new PrismaPg(pool) }) as {
    $disconnect(): Promise<void>;
    $transaction(work: unknown, options?: unknown): Promise<unknown>;
  };
  const poolStats = (): PoolStats => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount });
  const prepared = (statement: PreparedStatement, values: readonly unknown[]) => ({
    name: `${service}_${statement.name}`,
    text: statement.text,
    values: [...values],
  });
  const sql = async <R>(statement: PreparedStatement, values: readonly unknown[]): Promise<R[]> => (await pool.query(prepared(statement, values))).rows as R[];
  const sqlTransaction = async <R>(work: (tx: SqlTransaction) => Promise<R>): Promise<R> => {
    const connection = await pool.connect();
    const tx: SqlTransaction = {
      sql: async <T>(statement: PreparedStatement, values: readonly unknown[]) => (await connection.query(prepared(statement, values))).rows as T[],
      $queryRawUnsafe: async <T>(query: string, ...values: unknown[]) => (await connection.query(query, values)).rows as T,
      $executeRawUnsafe: async (query: string, ...values: unknown[]) => (await connection.query(query, values)).rowCount ?? 0,
    };
    let broken: Error | undefined;
    try {
      await connection.query('BEGIN');
      const result = await work(tx);
      assertCallerWaiting();
      await connection.query('COMMIT');
      return result;
    } catch (error) {
      await connection.query('ROLLBACK').catch((rollbackFailed: Error) => {
        // A connection that cannot roll back goes, rather than back into the pool mid-transaction.
        broken = rollbackFailed;
      });
      throw error;
    } finally {
      reclaimed.giveBack(connection, broken);
    }
  };
  // pg's Pool.end resolves once it has told its connections to end, before they have: the pool's own
  // record of them is kept, so that $disconnect returns only once the server has closed each one (db:split,
  // for one, refuses to move a service while any of its connections is open).
  const connections = new Set<pg.PoolClient>();
  let lastClosed: () => void = () => undefined;
  pool.on('connect', (connection) => connections.add(connection));
  pool.on('remove', (connection) => {
    connections.delete(connection);
    if (connections.size === 0) lastClosed();
  });
  // An interactive transaction commits only while its caller waits (runtime's forCallerUntil), as sqlTransaction does.
  const prismaTransaction = client.$transaction.bind(client);
  const $transaction = (work: unknown, options?: unknown) =>
    typeof work === 'function'
      ? prismaTransaction(async (tx: unknown) => {
          const result: unknown = await (work as (tx: unknown) => Promise<unknown>)(tx);
          assertCallerWaiting();
          return result;
        }, options)
      : prismaTransaction(work, options);
  const disconnectPrisma = client.$disconnect.bind(client);
  const $disconnect = async () => {
    await disconnectPrisma();
    await router?.close();
    if (!checks.ending) await checks.end();
    await Promise.all(replicas.filter((replica) => !replica.pool.ending).map((replica) => replica.pool.end()));
    if (!pool.ending) await pool.end();
    if (connections.size > 0) {
      await new Promise<void>((resolve) => {
        lastClosed = resolve;
      });
    }
  };
  const query = async <R>(text: string, values: readonly unknown[] = []) => {
    const result = await pool.query(text, [...values]);
    return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
  };
  const readSql = async <R>(statement: PreparedStatement, values: readonly unknown[], readOptions: { minLsn?: string } = {}): Promise<R[]> => {
    const minLsn = readOptions.minLsn === undefined ? undefined : parseLsn(readOptions.minLsn);
    if (readOptions.minLsn !== undefined && minLsn === undefined) {
      throw new Error(`not a WAL position: "${readOptions.minLsn}" (expected one like 16/B374D848)`);
    }
    if (router) return router.read(async (on) => (await on.query(prepared(statement, values))).rows as R[], minLsn);
    served.primary += 1;
    return sql<R>(statement, values);
  };
  const ping = async () => {
    await checks.query('SELECT 1');
  };
  const walPosition = async () => (await pool.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows[0]?.lsn as string;
  const replicaStats = () => ({ replicas: router?.stats() ?? [], served: { ...served } });
  const verifyReplicas = async () => router?.verify();
  return Object.assign(client, {
    service,
    hasReplicas: router !== undefined,
    poolStats,
    sql,
    sqlTransaction,
    query,
    ping,
    readSql,
    walPosition,
    replicaStats,
    verifyReplicas,
    $transaction,
    $disconnect,
  }) as unknown as ServiceClient<S>;
}
