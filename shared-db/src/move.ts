// db:split, the move of one service to a database of its own.
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { SPLIT_COPIED, SPLIT_PENDING, retiredSchemaOf, splitMark } from './checks';
import { MissingPasswordError, databaseIdentity, passwordVariable, serviceConnection, serviceUrlVariable, type ServiceConnection } from './config';
import { ConfigError, SERVICES, type Service } from '@fedstack/runtime';
import { describeTarget, withoutPasswords } from './errors';
import { connectOrExplain, sameDatabase } from './connections';
import { applyPendingMigrations } from './migrations';
import { appliedMigrations, checkSource, connectionsOf, discardUnfilled, fail, objectsOf, stopTheServiceFirst, tablesOf } from './move-checks';
import { runPrismaCli } from './prisma-cli';
import { applyGrants, dropDatabase, ensureDatabase, ensureServiceRole } from './setup';

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
  /** The sums of every row's md5 (its two halves); equal on both sides. */
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

/**
 * Every row's text hashed, and the hashes summed (each md5 as two 64-bit numbers): the same rows give the
 * same checksum on any server, in any order, in constant memory and without a sort while the source is
 * locked. (Joining the hashes into one string, as it did, failed past 33 million rows: PostgreSQL's 1 GB.)
 */
async function measure(client: pg.Client, schema: string, table: string): Promise<MovedTable> {
  const half = (from: number) => `coalesce(sum(('x' || substr(h, ${from}, 16))::bit(64)::bigint::numeric), 0)`;
  const { rows } = await client.query<{ rows: number; checksum: string }>(
    `SELECT count(*)::int AS rows, ${half(1)} || ':' || ${half(17)} AS checksum
     FROM (SELECT md5(t::text) AS h FROM "${schema}"."${table}" t) hashed`,
  );
  return { table, ...(rows[0] as { rows: number; checksum: string }) };
}

/** Gives the target the service's role, schema, migrations and grants. */
async function prepareTarget(target: pg.Client, toUrl: string, connection: ServiceConnection, history: string[], log: (line: string) => void): Promise<void> {
  const { service } = connection;
  // Roles belong to a server: on the source's, the role exists. On another that lacks it, the role would be
  // made with the development default, which this repository publishes, and log in to the moved data.
  const roleThere = await target.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [connection.role]);
  if (!connection.passwordGiven && !roleThere.rowCount) {
    throw fail(
      `${passwordVariable(service)} must be set: the target's server has no ${connection.role} role, and it would be made with this repository's development password, which anyone can read`,
    );
  }
  log(`Preparing ${describeTarget(toUrl)}: role ${connection.role}, ${service} migrations, grants`);
  await ensureServiceRole(toUrl, connection);
  // Marked before anything goes in, until the copy commits: a run that stops on the way (killed, cut off)
  // leaves a schema the next run knows for its own, and that no service starts on (assertMigrated).
  await target.query(`CREATE SCHEMA IF NOT EXISTS "${service}"; COMMENT ON SCHEMA "${service}" IS ${target.escapeLiteral(SPLIT_PENDING)}`);
  // A new database takes the migrations directly (ADR 0013); one with a history of its own, the CLI.
  const applied = await applyPendingMigrations(service, toUrl, '--to').catch((error: Error) => {
    throw fail(`migrating the target failed: ${error.message}`);
  });
  if (applied === 'left to the CLI') {
    const migrated = await runPrismaCli(service, ['migrate', 'deploy'], { ownerUrl: toUrl, capture: true });
    if (migrated.code !== 0) throw fail(`migrating the target failed:\n${migrated.output}`);
  }
  const others = await target.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = ANY($1)', [
    SERVICES.filter((other) => other !== service),
  ]);
  await applyGrants(toUrl, connection, { dedicated: (others.rows[0]?.n ?? 0) === 0 });
  if ((await appliedMigrations(target, service)).join() !== history.join()) {
    throw fail('the target and the source hold different migration histories; update the code or the source first');
  }
}

/**
 * Copies every table inside the target's open transaction, each checked against the source (which the
 * caller has locked): foreign keys are put back, and so checked, only once every row is there.
 */
async function copyTables(source: pg.Client, target: pg.Client, service: Service, tables: string[], log: (line: string) => void): Promise<MovedTable[]> {
  const foreignKeys = await target.query<{ table: string; name: string; definition: string }>(
    `SELECT conrelid::regclass::text AS table, conname AS name, pg_get_constraintdef(oid) AS definition
     FROM pg_constraint WHERE contype = 'f' AND connamespace = $1::regnamespace`,
    [service],
  );
  for (const key of foreignKeys.rows) await target.query(`ALTER TABLE ${key.table} DROP CONSTRAINT "${key.name}"`);
  const moved: MovedTable[] = [];
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
    moved.push(await verified(source, target, service, table));
    log(`  ${service}.${table}: ${moved.at(-1)?.rows} rows, checksum ${moved.at(-1)?.checksum}`);
  }
  for (const key of foreignKeys.rows) await target.query(`ALTER TABLE ${key.table} ADD CONSTRAINT "${key.name}" ${key.definition}`);
  const sequences = await source.query<{ name: string; value: string | null }>(
    `SELECT sequencename AS name, last_value::text AS value FROM pg_sequences WHERE schemaname = $1`,
    [service],
  );
  for (const { name, value } of sequences.rows) {
    if (value !== null) await target.query(`SELECT setval($1, $2::bigint)`, [`"${service}"."${name}"`, value]);
  }
  return moved;
}

/** The table's count and checksum on both sides (the source's schema under its own name, `from`, once retired), which must agree. */
async function verified(source: pg.Client, target: pg.Client, service: Service, table: string, from: string = service): Promise<MovedTable> {
  const [before, after] = [await measure(source, from, table), await measure(target, service, table)];
  if (before.rows !== after.rows || before.checksum !== after.checksum) {
    throw fail(
      `${service}.${table} differs (${before.rows} rows ${before.checksum} at the source, ${after.rows} rows ${after.checksum} at the target); the source was not changed`,
    );
  }
  return after;
}

/** One text form of every value on both sides, which the checksums compare, whatever each server's defaults. */
async function comparable(...clients: pg.Client[]): Promise<void> {
  for (const client of clients) await client.query(`SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 3`);
}

/** Each table verified, or null at the first that differs. */
async function identicalCopies(source: pg.Client, target: pg.Client, service: Service, tables: string[], from?: string): Promise<MovedTable[] | null> {
  const copies: MovedTable[] = [];
  try {
    for (const table of tables) copies.push(await verified(source, target, service, table, from));
  } catch (error) {
    if (error instanceof ConfigError) return null;
    throw error;
  }
  return copies;
}

/**
 * The service's connection to the new database. In production without its password, the setting's
 * refusal offered the role's own URL instead, which a move cannot use (it needs the owner's): it names the password only.
 */
function connectionAt(service: Service, toUrl: string, env: NodeJS.ProcessEnv): ServiceConnection {
  try {
    return serviceConnection(service, { ...env, [serviceUrlVariable(service)]: toUrl });
  } catch (error) {
    if (!(error instanceof MissingPasswordError)) throw error;
    throw fail(`${passwordVariable(service)} must be set in production: the password the ${service} service's role gets on the new database`);
  }
}

/**
 * Moves one service's schema, data, role and grants from one database to another, as `npm run db:split`
 * does: the target gets the service's migrations and role first, then every table is copied inside one
 * transaction on each side while the source's tables are locked against writes, and the copy is
 * verified table by table (row count and checksum). Only then is the source schema retired (renamed and
 * closed to the role), so that a service still pointed at it fails at start instead of serving stale data;
 * until then, the target's schema is marked (SPLIT_PENDING, then SPLIT_COPIED), and no service starts on
 * it. The same command finishes a move that stopped on the way: it prepares an unfilled target again,
 * copies again over a copy the source has changed since, and unmarks a copy whose source is retired.
 */
export async function moveService(options: MoveOptions): Promise<MoveReport> {
  const { service, fromUrl, toUrl } = options;
  const log = options.onProgress ?? (() => undefined);
  const variable = serviceUrlVariable(service);
  const connection = connectionAt(service, toUrl, options.env ?? process.env);
  if (databaseIdentity(fromUrl) === databaseIdentity(toUrl)) throw fail(`--from and --to are the same database (${describeTarget(toUrl)})`);
  // The role's own URL, as the summary of a move prints it for the service, is easily given by mistake.
  if (!connection.ownerUrl) {
    throw fail(`--to connects as ${connection.role}, which cannot create roles or run migrations: give the owner's connection to the new database`);
  }
  const report = (tables: MovedTable[], retiredSchema: string): MoveReport => {
    const place = new URL(connection.url);
    const forService = `${place.protocol}//${connection.role}:<${service.toUpperCase()}_DB_PASSWORD>@${place.host}${place.pathname}`;
    return { service, tables, retiredSchema, settings: { variable, forMigrations: withoutPasswords(toUrl), forService } };
  };

  const source = await connectOrExplain(fromUrl, '--from');
  let target: pg.Client | undefined;
  // A target database this run made, until the copy has committed in it.
  let made = false;
  try {
    const retired = await retiredSchemaOf(source, service);
    if (retired) {
      // Stopped after retiring the source and before unmarking the copy: only that copy is taken.
      target = await connectOrExplain(toUrl, '--to').catch(() => undefined);
      const mark = target && (await splitMark(target, service));
      if (target && mark === undefined && (await objectsOf(target, service)) > 0) {
        throw fail(`${service} was moved already: the source's copy is retired as ${retired}, and the target holds ${service}; nothing was changed`);
      }
      if (!target || mark !== 'copied') throw fail(`the source database has no migrated ${service} schema to move (its old copy is retired as ${retired})`);
      await comparable(source, target);
      const tables = await tablesOf(target, service);
      const identical = await identicalCopies(source, target, service, tables, retired);
      if (!identical) throw fail(`the target's copy of ${service} differs from the source's, retired as ${retired}; nothing was changed`);
      log(`The source was retired as ${retired} by a move that stopped before its end, and the target holds its exact copy: finishing it.`);
      await target.query(`COMMENT ON SCHEMA "${service}" IS NULL`);
      return report(identical, retired);
    }
    const { tables, history } = await checkSource(source, service, connection.role);
    made = await ensureDatabase(toUrl, '--to');
    target = await connectOrExplain(toUrl, '--to');
    if (await sameDatabase(source, target)) throw fail(`--from and --to are the same database, under two names (${describeTarget(toUrl)})`);
    await discardUnfilled(target, service, log);
    const resuming = (await objectsOf(target, service)) > 0;
    if (!resuming) await prepareTarget(target, toUrl, connection, history, log);

    await comparable(source, target);
    await source.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    let moved: MovedTable[];
    try {
      const quoted = tables.map((table) => `"${service}"."${table}"`);
      if (quoted.length > 0) await source.query(`LOCK TABLE ${quoted.join(', ')} IN EXCLUSIVE MODE`);
      // A service started between the first check and the lock would write to a schema about to retire.
      const open = await connectionsOf(source, connection.role);
      if (open > 0) throw stopTheServiceFirst(service, connection.role, open);
      if (resuming) {
        // The source's exact copy, left by a move that stopped before retiring the source, is taken.
        const identical = await identicalCopies(source, target, service, tables);
        if (!identical) {
          if ((await splitMark(target, service)) !== 'copied') {
            throw fail(`the target is not empty: it already holds the ${service} schema, and not as a copy of the source; give an empty database`);
          }
          // Such a copy that the source has moved on from (its service ran again) never served: copied again.
          log(`The target holds a copy of ${service} by a move that stopped before its end, and the source has changed since: copying again.`);
          await source.query('ROLLBACK');
          await target.query(`DROP SCHEMA "${service}" CASCADE`);
          return await moveService(options);
        }
        log(`The target already holds an exact copy of ${service} (a move that stopped before its end): finishing it.`);
        moved = identical;
      } else {
        await target.query('BEGIN');
        try {
          moved = await copyTables(source, target, service, tables, log);
          await target.query(`COMMENT ON SCHEMA "${service}" IS ${target.escapeLiteral(SPLIT_COPIED)}`);
          await target.query('COMMIT');
          made = false;
        } catch (error) {
          await target.query('ROLLBACK').catch(() => undefined);
          // The target was empty before: leave it so, ready for another attempt.
          await target.query(`DROP SCHEMA IF EXISTS "${service}" CASCADE`).catch(() => undefined);
          throw error;
        }
      }
    } catch (error) {
      await source.query('ROLLBACK').catch(() => undefined);
      throw error;
    }

    const retiredSchema = `${service}_moved_${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}`;
    try {
      await source.query(`ALTER SCHEMA "${service}" RENAME TO "${retiredSchema}"`);
      await source.query(`REVOKE ALL ON ALL TABLES IN SCHEMA "${retiredSchema}" FROM "${connection.role}"`);
      await source.query(`REVOKE ALL ON SCHEMA "${retiredSchema}" FROM "${connection.role}"`);
      await source.query('COMMIT');
    } catch (error) {
      await source.query('ROLLBACK').catch(() => undefined);
      throw fail(`the copy is complete in the target, but the source could not be retired (${(error as Error).message}); run the same command again to finish`);
    }
    log(`Retired the source schema as ${retiredSchema}.`);
    await target.query(`COMMENT ON SCHEMA "${service}" IS NULL`).catch((error: Error) => {
      throw fail(
        `the source is retired as ${retiredSchema}, but the target's copy could not be marked finished (${error.message}); run the same command again to finish`,
      );
    });
    return report(moved, retiredSchema);
  } catch (error) {
    if (made) {
      // Left empty by a refusal (a password to give, another history): the next run makes it again.
      await target?.end().catch(() => undefined);
      target = undefined;
      await dropDatabase(toUrl, '--to').catch(() => undefined);
    }
    throw error;
  } finally {
    await target?.end().catch(() => undefined);
    await source.end().catch(() => undefined);
  }
}
