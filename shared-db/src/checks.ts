// What a service's schema holds of its migrations, whether db:split moved it away, left it unfilled or has not moved it yet: checked at start-up and before migrating.
import type pg from 'pg';
import { ConfigError, type Service } from '@fedstack/runtime';
import { sameDatabase, withClient } from './connections';
import { describeTarget } from './errors';
import { migrationNames } from './prisma-cli';

/**
 * The comment on a schema `db:split` has prepared in its target and not yet filled. A schema that still
 * has it holds no data of the service's.
 */
export const SPLIT_PENDING = 'db:split pending: the data has not been copied here yet';

/**
 * The comment the copy's transaction puts in its place, taken off once the source is retired: the schema
 * holds the data, and until then the source, still live, may be written to (a move that stopped between
 * the two commits left two usable copies).
 */
export const SPLIT_COPIED = 'db:split copied the data here; the source has not been retired yet';

/** Where a db:split's target schema stands: prepared and unfilled, filled with the source still live, or neither (no move, or a finished one). */
export async function splitMark(client: pg.ClientBase, service: Service): Promise<'pending' | 'copied' | undefined> {
  const { rows } = await client.query<{ mark: string | null }>(`SELECT obj_description(to_regnamespace($1), 'pg_namespace') AS mark`, [service]);
  const mark = rows[0]?.mark;
  return mark === SPLIT_PENDING ? 'pending' : mark === SPLIT_COPIED ? 'copied' : undefined;
}

/** The migrations the service's history holds as applied (and not rolled back), and whether the schema is a db:split's that has not been filled. */
async function schemaState(service: Service, url: string, setting: string): Promise<{ applied: Set<string>; split: Awaited<ReturnType<typeof splitMark>> }> {
  return withClient(url, setting, async (client) => {
    const split = await splitMark(client, service);
    try {
      const { rows } = await client.query<{ name: string }>(
        `SELECT migration_name AS name FROM "${service}"._prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
      );
      return { applied: new Set(rows.map((row) => row.name)), split };
    } catch (error) {
      if (['42P01', '3F000', '42501'].includes((error as { code?: string }).code ?? '')) return { applied: new Set(), split };
      throw error;
    }
  });
}

/**
 * Fails with one line naming the setting when a service's schema lacks migrations this code needs, or is
 * the target of a db:split that stopped before its end: before copying (migrated, and empty: a service
 * started there would serve none of its data), or before retiring the source (which may have been
 * written to since).
 */
export async function assertMigrated(service: Service, url: string, setting: string): Promise<void> {
  const { applied, split } = await schemaState(service, url, setting);
  if (split) {
    const when = split === 'pending' ? 'stopped before the data was copied' : 'stopped after copying the data and before retiring its source';
    throw new ConfigError(
      `${setting}: the ${service} schema at ${describeTarget(url)} is a db:split's target that ${when}: run the same db:split again to finish it`,
    );
  }
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
  const retired = await withClient(ownerUrl, setting, (client) => retiredSchemaOf(client, service));
  if (retired) {
    throw new ConfigError(
      `${setting}: ${service} was moved out of ${describeTarget(ownerUrl)} by db:split (its old copy is ${retired}); point ${setting === 'DATABASE_URL' ? `${service.toUpperCase()}_DATABASE_URL` : setting} at its new database`,
    );
  }
}

/** The name db:split retired the service's schema under in this database (the newest), when it holds no live one. */
export async function retiredSchemaOf(client: pg.ClientBase, service: Service): Promise<string | undefined> {
  const { rows } = await client.query<{ retired: string | null }>(
    `SELECT (SELECT nspname FROM pg_namespace WHERE nspname LIKE $1 ORDER BY nspname DESC LIMIT 1) AS retired
     WHERE to_regnamespace($2) IS NULL`,
    [`${service}\\_moved\\_%`, service],
  );
  return rows[0]?.retired ?? undefined;
}

/**
 * A service the settings place in a database other than DATABASE_URL's (`DB_LAYOUT=split`, or its own
 * `<SERVICE>_DATABASE_URL`) while DATABASE_URL's database still holds its data, as when the settings are
 * switched before the services are moved (db:split): it was given an empty database and served it (every
 * user, payment and session seemingly gone, new writes going to the wrong copy, and `npm start` seeding
 * the demo accounts anew). Refused, naming those services, the settings and the move.
 */
export async function assertNothingLeftBehind(placed: readonly { service: Service; setting: string; ownerUrl: string }[], sharedUrl: string): Promise<void> {
  if (placed.length === 0) return;
  const missing = (error: unknown) => ((error as Error).cause as { code?: string } | undefined)?.code === '3D000';
  let left: Service[];
  let firstRelease = false;
  try {
    left = await withClient(sharedUrl, 'DATABASE_URL', async (shared) => {
      // A first release's database holds every schema under one history, in public: its data as much.
      const { rows } = await shared.query<{ service: Service; firstRelease: boolean }>(
        `SELECT service, to_regclass(format('%I._prisma_migrations', service)) IS NULL AS "firstRelease" FROM unnest($1::text[]) AS service
         WHERE to_regclass(format('%I._prisma_migrations', service)) IS NOT NULL
            OR (to_regclass('public._prisma_migrations') IS NOT NULL AND to_regnamespace(service) IS NOT NULL)`,
        [placed.map(({ service }) => service)],
      );
      firstRelease = rows.some((row) => row.firstRelease);
      const held: Service[] = [];
      for (const { service, setting, ownerUrl } of placed.filter((entry) => rows.some((row) => row.service === entry.service))) {
        // The same database under another address (`localhost` for `127.0.0.1`, a pooler) is no other place.
        const same = await withClient(ownerUrl, setting, (own) => sameDatabase(shared, own)).catch((error: unknown) => {
          if (missing(error)) return false;
          throw error;
        });
        if (!same) held.push(service);
      }
      return held;
    });
  } catch (error) {
    // No such database: nothing was left in it.
    if (missing(error)) return;
    throw error;
  }
  if (left.length === 0) return;
  const [one] = left;
  const settings = [...new Set(placed.filter(({ service }) => left.includes(service)).map(({ setting }) => setting))];
  const undo = settings.map((setting) => (setting === 'DB_LAYOUT=split' ? 'leave DB_LAYOUT unset' : `unset ${setting}`)).join(' and ');
  // A first release's database is upgraded (in place) before anything of it can move.
  const upgrade = firstRelease ? `npm run db:migrate with ${settings.length === 1 ? 'that setting' : 'those settings'} unset, then ` : '';
  throw new ConfigError(
    `${settings.join(', ')} ${settings.length === 1 ? 'gives' : 'give'} ${left.join(', ')} ${left.length === 1 ? 'a database of its own' : 'databases of their own'}, but DATABASE_URL's ` +
      `database (${describeTarget(sharedUrl)}) still holds ${left.length === 1 ? 'its' : 'their'} data: move ${left.length === 1 ? 'it' : 'each'} first ` +
      `(${upgrade}npm run db:split -- --service ${one} --to <its new database>), or ${undo}`,
  );
}
