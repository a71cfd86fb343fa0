// A subgraph's database metrics. Its own view: statements it sent and their time, and its pool (open,
// idle, waiting). PostgreSQL's view, read at each scrape as the service's role, of the service's own
// schema only: each table's rows, dead rows, size, writes and scans (pg_stat_user_tables, cumulative
// since PostgreSQL's statistics were last reset), the role's connections by state (pg_stat_activity),
// and the role's statements and their time (pg_stat_statements, where the extension is installed).
// Its replicas, as its client last checked them: how far behind each is, and which side served the reads
// that may be a little behind (docs/adr/0012-read-replicas.md).
// The schema label is the service's: a service's role reaches no other schema.
import { Counter, Gauge, Histogram } from 'prom-client';
import { within, type Logger, type Service, type ServiceMetrics } from '@fedstack/runtime';
import { serviceRole, type QueryEvent, type ReplicaStats, type ServiceClient } from '@fedstack/shared-db';

/** How long a scrape waits for PostgreSQL's figures. */
const STATISTICS_WAIT_MS = 2000;

export function databaseMetrics(metrics: ServiceMetrics, service: Service, logger: Logger) {
  const registers = [metrics.registry];
  const queries = new Counter({
    name: 'db_queries_total',
    help: "SQL statements sent to PostgreSQL, by the schema they work in (the service's own) and outcome",
    labelNames: ['schema', 'outcome'] as const,
    registers,
  });
  const duration = new Histogram({
    name: 'db_query_duration_seconds',
    help: 'Time PostgreSQL took to answer a statement, by schema',
    labelNames: ['schema'] as const,
    // Up to a statement behind an erasure's lock (30 s): a quantile above the highest bucket reads as that bucket.
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30],
    registers,
  });
  let db: ServiceClient<Service> | undefined;

  new Gauge({
    name: 'db_pool_connections',
    help: "Connections in the service's pool, by state (busy, idle)",
    labelNames: ['schema', 'state'] as const,
    registers,
    collect() {
      if (!db) return;
      const { total, idle } = db.poolStats();
      this.set({ schema: service, state: 'busy' }, total - idle);
      this.set({ schema: service, state: 'idle' }, idle);
    },
  });
  new Gauge({
    name: 'db_pool_waiting',
    help: 'Queries waiting for a connection from the pool (above zero: the pool is saturated)',
    labelNames: ['schema'] as const,
    registers,
    collect() {
      if (db) this.set({ schema: service }, db.poolStats().waiting);
    },
  });

  const REPLICA_FIGURES: Record<string, [(replica: ReplicaStats) => number | undefined, string]> = {
    db_replica_lag_bytes: [
      (replica) => replica.lagBytes,
      'WAL a replica had yet to replay at its last check, in bytes (absent when its last check got no answer)',
    ],
    db_replica_lag_seconds: [
      (replica) => (replica.lagMs === undefined ? undefined : replica.lagMs / 1000),
      'How far behind the primary a replica was at its last check, in seconds, at most (absent when its last check got no answer)',
    ],
    db_replica_usable: [
      (replica) => (replica.usable ? 1 : 0),
      'Whether a replica serves reads now (1): it answered its last check, is a standby of the primary, and is within DB_REPLICA_MAX_LAG_MS',
    ],
  };
  for (const [name, [figure, help]] of Object.entries(REPLICA_FIGURES)) {
    new Gauge({
      name,
      help,
      labelNames: ['schema', 'replica'] as const,
      registers,
      collect() {
        this.reset();
        for (const replica of db?.replicaStats().replicas ?? []) {
          const value = figure(replica);
          if (value !== undefined) this.set({ schema: service, replica: replica.target }, value);
        }
      },
    });
  }
  new Counter({
    name: 'db_possibly_stale_reads_total',
    help: "Reads that may be a little behind, by where they ran: a replica, or the primary (none usable, or not yet at the reader's own write)",
    labelNames: ['schema', 'served_by'] as const,
    registers,
    collect() {
      if (!db) return;
      const { served } = db.replicaStats();
      this.reset();
      this.inc({ schema: service, served_by: 'primary' }, served.primary);
      this.inc({ schema: service, served_by: 'replica' }, served.replica);
    },
  });

  const TABLE_FIGURES = {
    pg_table_live_rows: ['n_live_tup', 'Rows in the table, as PostgreSQL estimates them'],
    pg_table_dead_rows: ['n_dead_tup', 'Dead rows waiting for vacuum'],
    pg_table_size_bytes: ['size', 'Table size on disk, indexes and TOAST included'],
    pg_table_rows_inserted: ['n_tup_ins', 'Rows inserted (cumulative)'],
    pg_table_rows_updated: ['n_tup_upd', 'Rows updated (cumulative)'],
    pg_table_rows_deleted: ['n_tup_del', 'Rows deleted (cumulative)'],
    pg_table_seq_scans: ['seq_scan', 'Sequential scans (cumulative)'],
    pg_table_index_scans: ['idx_scan', 'Index scans (cumulative)'],
  } as const;
  type TableRow = Record<(typeof TABLE_FIGURES)[keyof typeof TABLE_FIGURES][0], number> & { table: string };
  interface Statistics {
    tables: TableRow[];
    connections: { state: string; count: number }[];
    statements: { calls: number; seconds: number } | undefined;
  }

  /**
   * PostgreSQL's figures, read once per scrape (every gauge below waits for the same read), or undefined
   * when they could not be read within STATISTICS_WAIT_MS: a database that does not answer held every scrape
   * for the pool's timeout.
   */
  async function read(): Promise<Statistics | undefined> {
    if (!db) return undefined;
    try {
      return await within(readFrom(db), STATISTICS_WAIT_MS, `no answer within ${STATISTICS_WAIT_MS} ms`);
    } catch (error) {
      logger.warn({ err: error }, "PostgreSQL's statistics could not be read for metrics");
      return undefined;
    }
  }

  /** The figures as the service's role sees them, on its pool. */
  async function readFrom(client: ServiceClient<Service>): Promise<Statistics> {
    const { rows: tables } = await client.query<TableRow>(
      `SELECT relname AS "table", n_live_tup::float8 AS n_live_tup, n_dead_tup::float8 AS n_dead_tup,
              pg_total_relation_size(relid)::float8 AS size, n_tup_ins::float8 AS n_tup_ins, n_tup_upd::float8 AS n_tup_upd,
              n_tup_del::float8 AS n_tup_del, seq_scan::float8 AS seq_scan, coalesce(idx_scan, 0)::float8 AS idx_scan
       FROM pg_stat_user_tables WHERE schemaname = $1`,
      [service],
    );
    const { rows: connections } = await client.query<{ state: string; count: number }>(
      `SELECT coalesce(state, 'unknown') AS state, count(*)::int AS count FROM pg_stat_activity WHERE usename = current_user GROUP BY 1`,
    );
    const {
      rows: [installed],
    } = await client.query<{ yes: boolean }>(`SELECT to_regclass('pg_stat_statements') IS NOT NULL AS yes`);
    const [statements] = installed?.yes
      ? (
          await client.query<{ calls: number; seconds: number }>(
            `SELECT coalesce(sum(calls), 0)::float8 AS calls, coalesce(sum(total_exec_time), 0)::float8 / 1000 AS seconds
           FROM pg_stat_statements WHERE userid = (SELECT oid FROM pg_roles WHERE rolname = current_user)`,
          )
        ).rows
      : [];
    return { tables, connections, statements };
  }

  let current: { at: number; read: Promise<Statistics | undefined> } | undefined;
  const statistics = () => {
    if (!current || performance.now() - current.at > 1000) current = { at: performance.now(), read: read() };
    return current.read;
  };

  for (const [name, [column, help]] of Object.entries(TABLE_FIGURES)) {
    new Gauge({
      name,
      help,
      labelNames: ['schema', 'table'] as const,
      registers,
      async collect() {
        const figures = await statistics();
        // Figures that could not be read now are left out, not shown at their last values.
        this.reset();
        if (!figures) return;
        for (const row of figures.tables) this.set({ schema: service, table: row.table }, row[column]);
      },
    });
  }
  new Gauge({
    name: 'pg_connections',
    help: "The service role's connections to PostgreSQL, by state (active, idle, idle in transaction...)",
    labelNames: ['schema', 'role', 'state'] as const,
    registers,
    async collect() {
      const figures = await statistics();
      this.reset();
      if (!figures) return;
      for (const row of figures.connections) this.set({ schema: service, role: serviceRole(service), state: row.state }, row.count);
    },
  });
  const STATEMENT_FIGURES = {
    pg_statements_calls: ['calls', 'Statements the service role ran, from pg_stat_statements (cumulative; absent without the extension)'],
    pg_statements_seconds: ['seconds', 'Time PostgreSQL spent executing those statements, in seconds (cumulative)'],
  } as const;
  for (const [name, [figure, help]] of Object.entries(STATEMENT_FIGURES)) {
    new Gauge({
      name,
      help,
      labelNames: ['schema'] as const,
      registers,
      async collect() {
        const statements = (await statistics())?.statements;
        this.reset();
        if (statements) this.set({ schema: service }, statements[figure]);
      },
    });
  }

  return {
    /** Counts one statement the pool ran. */
    observe(event: QueryEvent): void {
      queries.inc({ schema: service, outcome: event.failed ? 'error' : 'ok' });
      duration.observe({ schema: service }, event.durationMs / 1000);
    },
    /** The client whose pool and role the gauges read, once it exists. */
    attach(client: ServiceClient<Service>): void {
      db = client;
    },
  };
}
