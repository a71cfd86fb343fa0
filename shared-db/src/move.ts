import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { databaseIdentity, serviceConnection, serviceUrlVariable } from './config';
import { ConfigError, describeTarget } from './errors';
import { SERVICES, type Service } from './services';
import { applyGrants, connectOrExplain, ensureDatabase, ensureServiceRole, migrationNames, runPrismaCli } from './setup';

export interface MoveOptions {
  service: Service;
  /** The owner's connection to the database that holds the service's schema now. */
  fromUrl: string;
  /** The owner's connection to the database it moves to (created if missing). */
  toUrl: string;
  /** The environment the service's role password comes from (`<SERVICE>_DB_PASSWORD`). */
  env?: NodeJS.ProcessEnv;
  onProgress?: (line: string) => void;
}

export interface MovedTable {
  table: string;
  rows: number;
  /** md5 over every row's text, in a fixed order; equal on both sides. */
  checksum: string;
}

export interface MoveReport {
  service: Service;
  tables: MovedTable[];
  /** What the source schema is called now; drop it once the service runs from its new database. */
  retiredSchema: string;
  /** The settings that point the service (and db:migrate) at its new database. */
  settings: { variable: string; forMigrations: string; forService: string };
}

const fail = (message: string) => new ConfigError(`db:split: ${message}`);

/** Every row's text in a fixed order, hashed: the same data gives the same checksum on any server. */
async function measure(client: pg.Client, service: Service, table: string): Promise<MovedTable> {
  const { rows } = await client.query<{ rows: number; checksum: string }>(
    `SELECT count(*)::int AS rows, coalesce(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), md5('')) AS checksum
     FROM "${service}"."${table}" t`,
  );
  return { table, ...(rows[0] as { rows: number; checksum: string }) };
}

async function appliedMigrations(client: pg.Client, service: Service): Promise<string[]> {
  const { rows } = await client.query<{ migration_name: string }>(
    `SELECT migration_name FROM "${service}"._prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY migration_name`,
  );
  return rows.map((row) => row.migration_name);
}

/**
 * Refuses unless the source holds the whole, migrated schema and nothing of the service is running on it;
 * returns the tables to copy and the source's migration history.
 */
async function checkSource(source: pg.Client, service: Service, role: string): Promise<{ tables: string[]; history: string[] }> {
  const schema = await source.query(`SELECT to_regclass($1) IS NOT NULL AS migrated`, [`"${service}"._prisma_migrations`]);
  if (!schema.rows[0]?.migrated) throw fail(`the source database has no migrated ${service} schema to move`);
  const history = await appliedMigrations(source, service);
  const missing = migrationNames(service).filter((name) => !history.includes(name));
  if (missing.length > 0) throw fail(`the source's ${service} schema lacks migration ${missing[0]}: run npm run db:migrate first`);
  const sessions = await source.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND usename = $1',
    [role],
  );
  const open = sessions.rows[0]?.n ?? 0;
  if (open > 0) {
    throw fail(
      `${open} connection${open === 1 ? '' : 's'} of ${role} ${open === 1 ? 'is' : 'are'} open to the source: ` +
        `stop the ${service} service first, so that no write is in flight while it moves`,
    );
  }
  const prepared = await source.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_prepared_xacts WHERE database = current_database()');
  if ((prepared.rows[0]?.n ?? 0) > 0) throw fail('the source database has prepared transactions waiting to commit; resolve them first');
  const { rows } = await source.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relname <> '_prisma_migrations' ORDER BY c.relname`,
    [service],
  );
  return { tables: rows.map((row) => row.name), history };
}

async function checkTarget(target: pg.Client, service: Service): Promise<void> {
  const { rows } = await target.query<{ objects: number }>(
    `SELECT count(*)::int AS objects FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1`,
    [service],
  );
  const objects = rows[0]?.objects ?? 0;
  if (objects > 0) throw fail(`the target is not empty: it already holds the ${service} schema (${objects} tables, indexes or other objects); give an empty database`);
}

/**
 * Moves one service's schema, data, role and grants from one database to another, as `npm run db:split`
 * does: the target gets the service's migrations and role first, then every table is copied inside one
 * transaction on each side while the source's tables are locked against writes, and the copy is
 * verified table by table (row count and checksum). Only then is the source schema retired (renamed and
 * closed to the role), so that a service still pointed at it fails at start instead of serving stale data.
 */
export async function moveService(options: MoveOptions): Promise<MoveReport> {
  const { service, fromUrl, toUrl } = options;
  const log = options.onProgress ?? (() => undefined);
  const variable = serviceUrlVariable(service);
  const connection = serviceConnection(service, { ...(options.env ?? process.env), [variable]: toUrl });
  if (databaseIdentity(fromUrl) === databaseIdentity(toUrl)) throw fail(`--from and --to are the same database (${describeTarget(toUrl)})`);

  const source = await connectOrExplain(fromUrl, '--from');
  let target: pg.Client | undefined;
  try {
    const { tables, history } = await checkSource(source, service, connection.role);

    await ensureDatabase(toUrl, '--to');
    target = await connectOrExplain(toUrl, '--to');
    await checkTarget(target, service);
    log(`Preparing ${describeTarget(toUrl)}: role ${connection.role}, ${service} migrations, grants`);
    await ensureServiceRole(toUrl, connection);
    await target.query(`CREATE SCHEMA IF NOT EXISTS "${service}"`);
    const migrated = await runPrismaCli(service, ['migrate', 'deploy'], { ownerUrl: toUrl, capture: true });
    if (migrated.code !== 0) throw fail(`migrating the target failed:\n${migrated.output}`);
    const others = await target.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = ANY($1)', [
      SERVICES.filter((other) => other !== service),
    ]);
    await applyGrants(toUrl, connection, { dedicated: (others.rows[0]?.n ?? 0) === 0 });
    if ((await appliedMigrations(target, service)).join() !== history.join()) {
      throw fail('the target and the source hold different migration histories; update the code or the source first');
    }

    for (const client of [source, target]) await client.query(`SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 3`);
    await source.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await target.query('BEGIN');
    const moved: MovedTable[] = [];
    try {
      const quoted = tables.map((table) => `"${service}"."${table}"`);
      if (quoted.length > 0) await source.query(`LOCK TABLE ${quoted.join(', ')} IN EXCLUSIVE MODE`);
      // Foreign keys are checked once, when they are put back over the copied rows, so that the order
      // of tables (and of rows in a self-referencing one) does not matter.
      const foreignKeys = await target.query<{ table: string; name: string; definition: string }>(
        `SELECT conrelid::regclass::text AS table, conname AS name, pg_get_constraintdef(oid) AS definition
         FROM pg_constraint WHERE contype = 'f' AND connamespace = $1::regnamespace`,
        [service],
      );
      for (const key of foreignKeys.rows) await target.query(`ALTER TABLE ${key.table} DROP CONSTRAINT "${key.name}"`);
      for (const table of tables) {
        const columns = (
          await source.query<{ column: string }>(
            `SELECT quote_ident(attname) AS column FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
            [`"${service}"."${table}"`],
          )
        ).rows
          .map((row) => row.column)
          .join(', ');
        await pipeline(
          source.query(copyTo(`COPY "${service}"."${table}" (${columns}) TO STDOUT`)),
          target.query(copyFrom(`COPY "${service}"."${table}" (${columns}) FROM STDIN`)),
        );
        const [before, after] = [await measure(source, service, table), await measure(target, service, table)];
        if (before.rows !== after.rows || before.checksum !== after.checksum) {
          throw fail(`${service}.${table} did not arrive intact (${before.rows} rows ${before.checksum} at the source, ${after.rows} rows ${after.checksum} at the target); nothing was changed`);
        }
        moved.push(after);
        log(`  ${service}.${table}: ${after.rows} rows, checksum ${after.checksum}`);
      }
      for (const key of foreignKeys.rows) await target.query(`ALTER TABLE ${key.table} ADD CONSTRAINT "${key.name}" ${key.definition}`);
      const sequences = await source.query<{ name: string; value: string | null }>(
        `SELECT sequencename AS name, last_value::text AS value FROM pg_sequences WHERE schemaname = $1`,
        [service],
      );
      for (const { name, value } of sequences.rows) {
        if (value !== null) await target.query(`SELECT setval($1, $2::bigint)`, [`"${service}"."${name}"`, value]);
      }
      await target.query('COMMIT');
    } catch (error) {
      await target.query('ROLLBACK').catch(() => undefined);
      await source.query('ROLLBACK').catch(() => undefined);
      // The target was empty before: leave it so, ready for another attempt.
      await target.query(`DROP SCHEMA IF EXISTS "${service}" CASCADE`).catch(() => undefined);
      throw error;
    }

    const retiredSchema = `${service}_moved_${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}`;
    const database = source.escapeIdentifier(decodeURIComponent(new URL(fromUrl).pathname.slice(1)));
    await source.query(`ALTER SCHEMA "${service}" RENAME TO "${retiredSchema}"`);
    await source.query(`REVOKE ALL ON ALL TABLES IN SCHEMA "${retiredSchema}" FROM "${connection.role}"`);
    await source.query(`REVOKE ALL ON SCHEMA "${retiredSchema}" FROM "${connection.role}"`);
    await source.query(`REVOKE CONNECT ON DATABASE ${database} FROM "${connection.role}"`);
    await source.query('COMMIT');
    log(`Retired the source schema as ${retiredSchema}.`);

    const place = new URL(connection.url);
    const forService = `${place.protocol}//${connection.role}:<${service.toUpperCase()}_DB_PASSWORD>@${place.host}${place.pathname}`;
    return { service, tables: moved, retiredSchema, settings: { variable, forMigrations: toUrl, forService } };
  } finally {
    await target?.end().catch(() => undefined);
    await source.end().catch(() => undefined);
  }
}
