// What a service's schema holds of its migrations, and whether db:split moved it away: checked at start-up and before migrating.
import { ConfigError, type Service } from '@fedstack/runtime';
import { withClient } from './connections';
import { describeTarget } from './errors';
import { migrationNames } from './prisma-cli';

/** The migrations the service's history holds as applied (and not rolled back); none when it has no history or its schema does not exist. */
async function appliedMigrations(service: Service, url: string, setting: string): Promise<Set<string>> {
  return withClient(url, setting, async (client) => {
    try {
      const { rows } = await client.query<{ name: string }>(
        `SELECT migration_name AS name FROM "${service}"._prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
      );
      return new Set(rows.map((row) => row.name));
    } catch (error) {
      if (['42P01', '3F000', '42501'].includes((error as { code?: string }).code ?? '')) return new Set();
      throw error;
    }
  });
}

/** Fails with one line naming the setting when a service's schema lacks migrations this code needs. */
export async function assertMigrated(service: Service, url: string, setting: string): Promise<void> {
  const applied = await appliedMigrations(service, url, setting);
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
