// What db:split checks of the databases it moves between before it copies anything: the source complete and idle, the target not the source under another name, and what an earlier run left there.
import type pg from 'pg';
import { ConfigError, type Service } from '@fedstack/runtime';
import { splitMark } from './checks';
import { migrationNames } from './prisma-cli';

/** A refusal of db:split, in one line. */
export const fail = (message: string) => new ConfigError(`db:split: ${message}`);

export async function appliedMigrations(client: pg.Client, service: Service): Promise<string[]> {
  const { rows } = await client.query<{ migration_name: string }>(
    `SELECT migration_name FROM "${service}"._prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY migration_name`,
  );
  return rows.map((row) => row.migration_name);
}

/**
 * Refuses unless the source holds the whole, migrated schema and nothing of the service is running on it;
 * returns the tables to copy and the source's migration history.
 */
export async function checkSource(source: pg.Client, service: Service, role: string): Promise<{ tables: string[]; history: string[] }> {
  const schema = await source.query<{ migrated: boolean; firstRelease: boolean }>(
    `SELECT to_regclass($1) IS NOT NULL AS migrated, to_regclass('public._prisma_migrations') IS NOT NULL AND to_regnamespace($2) IS NOT NULL AS "firstRelease"`,
    [`"${service}"._prisma_migrations`, service],
  );
  if (schema.rows[0]?.firstRelease && !schema.rows[0].migrated) {
    throw fail(
      `the source database is a first release's (one migration history for every schema): upgrade it first (npm run db:migrate, with DATABASE_URL naming it)`,
    );
  }
  if (!schema.rows[0]?.migrated) throw fail(`the source database has no migrated ${service} schema to move`);
  const history = await appliedMigrations(source, service);
  const missing = migrationNames(service).filter((name) => !history.includes(name));
  if (missing.length > 0) throw fail(`the source's ${service} schema lacks migration ${missing[0]}: run npm run db:migrate first`);
  const open = await connectionsOf(source, role);
  if (open > 0) throw stopTheServiceFirst(service, role, open);
  const prepared = await source.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_prepared_xacts WHERE database = current_database()');
  if ((prepared.rows[0]?.n ?? 0) > 0) throw fail('the source database has prepared transactions waiting to commit; resolve them first');
  return { tables: await tablesOf(source, service), history };
}

/** The service's tables in this database, but its migration history: what a move copies. */
export async function tablesOf(client: pg.Client, service: Service): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relname <> '_prisma_migrations' ORDER BY c.relname`,
    [service],
  );
  return rows.map((row) => row.name);
}

/**
 * Drops what an earlier run left in the target when it stopped before the copy committed (the schema still
 * marked SPLIT_PENDING): migrated and empty, it is prepared again. One with rows in it is refused: something
 * other than db:split wrote there.
 */
export async function discardUnfilled(target: pg.Client, service: Service, log: (line: string) => void): Promise<void> {
  if ((await splitMark(target, service)) !== 'pending') return;
  const { rows: tables } = await target.query<{ name: string }>(
    `SELECT tablename AS name FROM pg_tables WHERE schemaname = $1 AND tablename <> '_prisma_migrations'`,
    [service],
  );
  for (const { name } of tables) {
    const { rowCount } = await target.query(`SELECT 1 FROM "${service}"."${name}" LIMIT 1`);
    if (rowCount)
      throw fail(
        `the target's ${service} schema, left by a db:split that stopped before copying, has rows in ${name}: something else wrote there; give an empty database`,
      );
  }
  log(`The target holds the ${service} schema an earlier db:split prepared and stopped before filling: preparing it again.`);
  await target.query(`DROP SCHEMA "${service}" CASCADE`);
}

/** How many objects of the service's schema the database holds (0: none, the target is free). */
export async function objectsOf(client: pg.Client, service: Service): Promise<number> {
  const { rows } = await client.query<{ objects: number }>(
    `SELECT count(*)::int AS objects FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1`,
    [service],
  );
  return rows[0]?.objects ?? 0;
}

/** Connections of the service's role to this database, other than ours. */
export async function connectionsOf(client: pg.Client, role: string): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND usename = $1 AND pid <> pg_backend_pid()',
    [role],
  );
  return rows[0]?.n ?? 0;
}

export function stopTheServiceFirst(service: Service, role: string, open: number): ConfigError {
  return fail(
    `${open} connection${open === 1 ? '' : 's'} of ${role} ${open === 1 ? 'is' : 'are'} open to the source: ` +
      `stop the ${service} service first, so that no write is in flight while it moves`,
  );
}
