// The one-off upgrade of a database from the first release's single migration history to one history per service.
import { ConfigError, SERVICES, type Service } from '@fedstack/runtime';
import { withClient } from './connections';
import { describeTarget } from './errors';
import { runPrisma } from './prisma-cli';

/** The migration history every service starts from, which the single-history layout had applied as one. */
export const FIRST_MIGRATION = '20261124120000_init';
/** The checksum `prisma migrate deploy` recorded for that first, all-schemas migration. */
const SINGLE_HISTORY_CHECKSUM = '2d337e84fe90060218d85c1170ed5675707a96500bdb57c6c8542b07d4be0180';
/** Where the single history goes once every service has its own: kept, renamed, for the record. */
const RETIRED_HISTORY = '_prisma_migrations_single_history';

/**
 * A database the single-history layout made holds every schema, with one history in
 * public._prisma_migrations. Each service's first migration is what that history applied for its schema,
 * so it is recorded as applied in the service's own history; its later migrations then apply as usual.
 */
export async function adoptSingleHistory(service: Service, ownerUrl: string, setting: string, quiet: boolean): Promise<boolean> {
  const state = await withClient(ownerUrl, setting, async (client) => {
    const { rows } = await client.query<{ single: boolean; own: boolean }>(
      `SELECT to_regclass('public._prisma_migrations') IS NOT NULL AS single,
              to_regclass($1) IS NOT NULL AS own`,
      [`"${service}"._prisma_migrations`],
    );
    const { single, own } = rows[0] as { single: boolean; own: boolean };
    if (!single || own) return 'nothing to adopt';
    // The first release's history, and nothing else: one migration, applied, with the checksum it had.
    const history = await client.query<{ migration_name: string; checksum: string; applied: boolean }>(
      `SELECT migration_name, checksum, finished_at IS NOT NULL AND rolled_back_at IS NULL AS applied FROM public._prisma_migrations`,
    );
    const [first] = history.rows;
    const known = history.rows.length === 1 && first?.migration_name === FIRST_MIGRATION && first.checksum === SINGLE_HISTORY_CHECKSUM && first.applied;
    return known ? 'adopt' : 'unknown history';
  });
  if (state === 'nothing to adopt') return false;
  if (state === 'unknown history') {
    throw new ConfigError(
      `${setting}: ${describeTarget(ownerUrl)} has a migration history in public._prisma_migrations that is not this project's first release; ` +
        'it cannot be upgraded automatically',
    );
  }
  await runPrisma(service, ['migrate', 'resolve', '--applied', FIRST_MIGRATION], ownerUrl, quiet);
  return true;
}

/** Retires the single history once every service in that database has its own. */
export async function retireSingleHistory(ownerUrl: string, setting: string): Promise<void> {
  await withClient(ownerUrl, setting, async (client) => {
    const { rows } = await client.query<{ remaining: number }>(
      `SELECT count(*)::int AS remaining FROM unnest($1::text[]) AS s(name) WHERE to_regclass(format('%I._prisma_migrations', s.name)) IS NULL`,
      [SERVICES],
    );
    if ((rows[0]?.remaining ?? 1) === 0) await client.query(`ALTER TABLE IF EXISTS public._prisma_migrations RENAME TO ${RETIRED_HISTORY}`);
  });
}
