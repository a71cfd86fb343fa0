// What a service's schema holds of its migrations, and whether db:split moved it away: checked at start-up and before migrating.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, type Service } from '@fedstack/runtime';
import { withClient } from './connections';
import { describeTarget } from './errors';
import { migrationNames, migrationsDir } from './prisma-cli';

interface HistoryRow {
  name: string;
  checksum: string;
  /** Applied and not rolled back. */
  applied: boolean;
  /** Neither finished nor rolled back: a migration that failed, which `migrate deploy` refuses to go past. */
  failed: boolean;
}

/** The service's migration history (Prisma's, in its own schema); empty when it has none or its schema does not exist. */
async function history(service: Service, url: string, setting: string): Promise<HistoryRow[]> {
  return withClient(url, setting, async (client) => {
    try {
      const { rows } = await client.query<HistoryRow>(
        `SELECT migration_name AS name, checksum, finished_at IS NOT NULL AND rolled_back_at IS NULL AS applied,
                finished_at IS NULL AND rolled_back_at IS NULL AS failed
         FROM "${service}"._prisma_migrations`,
      );
      return rows;
    } catch (error) {
      if (['42P01', '3F000', '42501'].includes((error as { code?: string }).code ?? '')) return [];
      throw error;
    }
  });
}

/**
 * True when `migrate deploy` would do nothing: the history holds exactly the migrations the repository
 * has, each applied from the same file (Prisma's checksum, the SHA-256 of its migration.sql), and no
 * failed one. Prisma's CLI costs about half a second of CPU per service to find that out, on every start;
 * anything else is left to the CLI, which applies, refuses or explains as ever.
 */
export async function migrationsUpToDate(service: Service, ownerUrl: string, setting: string): Promise<boolean> {
  const rows = await history(service, ownerUrl, setting);
  const applied = new Map(rows.filter((row) => row.applied).map((row) => [row.name, row.checksum]));
  const names = migrationNames(service);
  // A folder without its migration.sql (left by another branch, say) is for the CLI to explain.
  const checksum = (name: string) => {
    try {
      return createHash('sha256')
        .update(readFileSync(path.join(migrationsDir(service), name, 'migration.sql')))
        .digest('hex');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  };
  return !rows.some((row) => row.failed) && applied.size === names.length && names.every((name) => applied.get(name) === checksum(name));
}

/** Fails with one line naming the setting when a service's schema lacks migrations this code needs. */
export async function assertMigrated(service: Service, url: string, setting: string): Promise<void> {
  const applied = new Set((await history(service, url, setting)).filter((row) => row.applied).map((row) => row.name));
  const missing = migrationNames(service).filter((name) => !applied.has(name));
  if (missing.length > 0) {
    throw new ConfigError(
      `${setting}: the ${service} schema at ${describeTarget(url)} lacks ${missing.length === migrationNames(service).length ? 'every migration' : `migration ${missing[0]}`}` +
        ` (run npm run db:migrate${setting === 'DATABASE_URL' ? '' : " with the owner's connection"} first)`,
    );
  }
}

/**
 * A database `db:split` moved the service out of keeps the old copy, retired under another name. Making a
 * new, empty schema there (a migrate job still pointed at the old place) would let a service that is
 * still pointed there start and serve nothing: refused instead, naming the setting.
 */
export async function assertNotMovedAway(service: Service, ownerUrl: string, setting: string): Promise<void> {
  const retired = await withClient(ownerUrl, setting, async (client) => {
    const { rows } = await client.query<{ retired: string | null }>(
      `SELECT (SELECT nspname FROM pg_namespace WHERE nspname LIKE $1 ORDER BY nspname DESC LIMIT 1) AS retired
       WHERE to_regnamespace($2) IS NULL`,
      [`${service}\\_moved\\_%`, service],
    );
    return rows[0]?.retired;
  });
  if (retired) {
    throw new ConfigError(
      `${setting}: ${service} was moved out of ${describeTarget(ownerUrl)} by db:split (its old copy is ${retired}); point ${setting === 'DATABASE_URL' ? `${service.toUpperCase()}_DATABASE_URL` : setting} at its new database`,
    );
  }
}
