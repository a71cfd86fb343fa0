// A service's pending migrations applied and recorded as Prisma Migrate applies and records them, without starting Prisma's CLI.
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { StartupError, type Service } from '@fedstack/runtime';
import { withClient } from './connections';
import { migrationNames, migrationsDir } from './prisma-cli';

/** Prisma Migrate's own lock (its schema engine takes `pg_advisory_lock(72707369)`): one migrator at a time per database, this or the CLI. */
const MIGRATE_LOCK = 72707369;

/** The history table as Prisma 6.19's schema engine creates it, in the schema its connection is given. */
const HISTORY_TABLE = `CREATE TABLE IF NOT EXISTS _prisma_migrations (
  id VARCHAR(36) PRIMARY KEY NOT NULL,
  checksum VARCHAR(64) NOT NULL,
  finished_at TIMESTAMPTZ,
  migration_name VARCHAR(255) NOT NULL,
  logs TEXT,
  rolled_back_at TIMESTAMPTZ,
  started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  applied_steps_count INTEGER NOT NULL DEFAULT 0
)`;

/**
 * What PostgreSQL refuses inside a transaction block, and a script's own transaction control (a `BEGIN;`
 * statement, not the `BEGIN` of a function's body).
 */
const NOT_IN_A_TRANSACTION = /\b(CONCURRENTLY|VACUUM)\b|^\s*(BEGIN|COMMIT|ROLLBACK|START\s+TRANSACTION)(\s+(WORK|TRANSACTION))?\s*;/im;

/** Whether a migration script can run inside the transaction that records it; one that cannot is the CLI's to run. */
export function runsInATransaction(sql: string): boolean {
  return !NOT_IN_A_TRANSACTION.test(sql);
}

interface MigrationFile {
  sql: string;
  /** Prisma's checksum: the SHA-256 of migration.sql, in hex. */
  checksum: string;
}

/** A migration's script and checksum; undefined when its folder has no migration.sql (left by another branch, say). */
function migrationFile(service: Service, name: string): MigrationFile | undefined {
  let sql: string;
  try {
    sql = readFileSync(path.join(migrationsDir(service), name, 'migration.sql'), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return { sql, checksum: createHash('sha256').update(sql).digest('hex') };
}

/** What `applyPendingMigrations` did: the migrations it applied (none when every one was), or nothing, leaving them to Prisma's CLI. */
export type MigrationOutcome = { applied: string[] } | 'left to the CLI';

/**
 * Applies the service's migrations that its history lacks, oldest first, each in one transaction with its
 * history row, so that a migration that fails leaves neither; recorded as Prisma Migrate records them, so
 * that its CLI (`migrate status`, `migrate deploy`, a later release's own) reads the same history. Only
 * when that history is a clean beginning of the repository's: every row applied from the file the
 * repository holds, in order, none failed, rolled back or unknown here, and no pending script needing to
 * run outside a transaction. Otherwise it does nothing and says so: the CLI then applies, refuses or
 * explains as ever. Starting Prisma's CLI costs about 0.75 s of CPU per service
 * (docs/adr/0013-applying-migrations.md).
 */
export async function applyPendingMigrations(service: Service, ownerUrl: string, setting: string): Promise<MigrationOutcome> {
  return withClient(ownerUrl, setting, async (client) => {
    // As Prisma's CLI has it: the service's schema first on the search path, where its history lives.
    await client.query(`SET search_path TO "${service}"`);
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATE_LOCK]);
    try {
      await client.query(HISTORY_TABLE);
      const { rows } = await client.query<{ name: string; checksum: string; applied: boolean }>(
        'SELECT migration_name AS name, checksum, finished_at IS NOT NULL AND rolled_back_at IS NULL AS applied FROM _prisma_migrations',
      );
      const names = migrationNames(service);
      const history = rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const clean = history.every((row, index) => row.applied && row.name === names[index] && row.checksum === migrationFile(service, row.name)?.checksum);
      const pending = names.slice(history.length).map((name) => ({ name, file: migrationFile(service, name) }));
      if (!clean || pending.some(({ file }) => !file || !runsInATransaction(file.sql))) return 'left to the CLI';
      for (const { name, file } of pending) await applyOne(client, service, name, file as MigrationFile);
      return { applied: pending.map(({ name }) => name) };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATE_LOCK]).catch(() => undefined);
    }
  });
}

/** One migration and its history row, in one transaction. */
async function applyOne(client: pg.Client, service: Service, name: string, file: MigrationFile): Promise<void> {
  const id = randomUUID();
  await client.query('BEGIN');
  try {
    await client.query('INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at) VALUES ($1, $2, $3, now())', [id, file.checksum, name]);
    // The script whole, as one simple query: function bodies survive, and it shares the transaction.
    await client.query(file.sql);
    await client.query('UPDATE _prisma_migrations SET finished_at = clock_timestamp(), applied_steps_count = 1 WHERE id = $1', [id]);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    // One line, as every command's known failure (it was a stack and pg's error object): what PostgreSQL said, with its detail and hint.
    const { message = String(error), detail, hint } = error as { message?: string; detail?: string; hint?: string };
    const said = [message, detail, hint].filter(Boolean).join('; ');
    throw new StartupError(`${service}: migration ${name} failed, and nothing of it was applied: ${said}`, { cause: error });
  }
}
