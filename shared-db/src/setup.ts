import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { databaseIdentity, ownerUrlFor, serviceConnection, type ServiceConnection } from './config';
import { ConfigError, SERVICES, type Service } from '@fedstack/runtime';
import { DatabaseUnavailableError, describeTarget, explainConnectionError } from './errors';
import { grantStatements } from './grants';
import { serviceRole } from './services';

const SHARED_DB_ROOT = path.resolve(__dirname, '..');

/** The migration history every service starts from, which the single-history layout had applied as one. */
export const FIRST_MIGRATION = '20261124120000_init';
/** The checksum `prisma migrate deploy` recorded for that first, all-schemas migration. */
const SINGLE_HISTORY_CHECKSUM = '2d337e84fe90060218d85c1170ed5675707a96500bdb57c6c8542b07d4be0180';
/** Where the single history goes once every service has its own: kept, renamed, for the record. */
const RETIRED_HISTORY = '_prisma_migrations_single_history';

/** Connects, or fails with one line that names the setting and the problem. */
export async function connectOrExplain(url: string, setting: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw explainConnectionError(error, url, setting);
  }
  return client;
}

async function withClient<R>(url: string, setting: string, work: (client: pg.Client) => Promise<R>): Promise<R> {
  const client = await connectOrExplain(url, setting);
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * Creates the database a URL names if its server does not have it yet (through the server's `postgres`
 * database), or fails with one line when that user may not.
 */
export async function ensureDatabase(url: string, setting: string): Promise<void> {
  const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  let missing: unknown;
  try {
    await probe.connect();
    return;
  } catch (error) {
    if ((error as { code?: string }).code !== '3D000') throw explainConnectionError(error, url, setting);
    missing = error;
  } finally {
    await probe.end().catch(() => undefined);
  }
  const server = new URL(url);
  const database = decodeURIComponent(server.pathname.slice(1));
  server.pathname = '/postgres';
  try {
    await withClient(server.toString(), setting, async (client) => {
      try {
        await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
      } catch (error) {
        // Two runs may race to create it (parallel test runs on one server).
        if ((error as { code?: string }).code !== '42P04') throw error;
      }
    });
  } catch (error) {
    const { message } = explainConnectionError(missing, url, setting);
    throw new DatabaseUnavailableError(`${message}, and ${decodeURIComponent(server.username) || 'this user'} cannot create it (${(error as Error).message})`);
  }
}

/**
 * Creates a service's role if missing and sets its password; safe to run again. The role can log in and
 * nothing more: no superuser, no role or database creation, no inherited privileges.
 */
export async function ensureServiceRole(ownerUrl: string, connection: ServiceConnection): Promise<void> {
  await withClient(ownerUrl, connection.source, async (client) => {
    const { role, password } = connection;
    const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
    const verb = exists.rowCount ? 'ALTER' : 'CREATE';
    const passwordLiteral = client.escapeLiteral(password);
    // Two runs may race to create a role (parallel test runs on one server); the loser just alters it.
    try {
      await client.query(`${verb} ROLE "${role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD ${passwordLiteral}`);
    } catch (error) {
      if ((error as { code?: string }).code !== '42710') throw error;
      await client.query(`ALTER ROLE "${role}" LOGIN PASSWORD ${passwordLiteral}`);
    }
  });
}

/** True when the database holds tables of this service's schema and nobody else's. */
async function holdsOnly(client: pg.Client, service: Service): Promise<boolean> {
  const { rows } = await client.query<{ others: number }>(
    `SELECT count(*)::int AS others FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname <> $1 AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'`,
    [service],
  );
  return rows[0]?.others === 0;
}

/**
 * Makes the privileges on a service's schema equal the grants matrix, in one transaction. A database of
 * the service's own (no other service's schema, and nothing else in it) admits only its role and the
 * owner: CONNECT is taken from PUBLIC. A database that holds anything else is left open to whoever it
 * was open to (its other users, backups, monitoring).
 */
export async function applyGrants(ownerUrl: string, connection: ServiceConnection, options: { dedicated: boolean }): Promise<void> {
  const { service, role } = connection;
  await withClient(ownerUrl, connection.source, async (client) => {
    const others = SERVICES.filter((other) => other !== service).map(serviceRole);
    const existing = (await client.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname = ANY($1)', [others])).rows.map((row) => row.rolname);
    const database = client.escapeIdentifier(decodeURIComponent(new URL(ownerUrl).pathname.slice(1)));
    await client.query('BEGIN');
    try {
      for (const statement of grantStatements(service, role, existing)) await client.query(statement);
      if (options.dedicated && (await holdsOnly(client, service))) {
        await client.query(`REVOKE CONNECT, TEMPORARY ON DATABASE ${database} FROM PUBLIC`);
        for (const other of existing) await client.query(`REVOKE CONNECT, TEMPORARY ON DATABASE ${database} FROM "${other}"`);
      }
      await client.query(`GRANT CONNECT ON DATABASE ${database} TO "${role}"`);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    }
  });
}

export interface PrismaCliResult {
  code: number;
  output: string;
}

/**
 * Runs Prisma's CLI on one service's schema and migrations through `scripts/prisma-offline.js`, which
 * arranges what the CLI needs to run without network; output is passed through, or captured.
 */
export function runPrismaCli(service: Service, args: string[], options: { ownerUrl?: string; capture?: boolean } = {}): Promise<PrismaCliResult> {
  return new Promise((resolve, reject) => {
    const script = path.join(SHARED_DB_ROOT, 'scripts', 'prisma-offline.js');
    const child = spawn(process.execPath, [script, '--service', service, ...args], {
      env: { ...process.env, ...(options.ownerUrl ? { DATABASE_URL: options.ownerUrl } : {}) },
      stdio: options.capture ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

async function prisma(service: Service, args: string[], ownerUrl: string, quiet: boolean): Promise<void> {
  const result = await runPrismaCli(service, args, { ownerUrl, capture: quiet });
  if (result.code !== 0) {
    throw new Error(`prisma ${args.join(' ')} failed for ${service} (exit ${result.code})${result.output ? `:\n${result.output}` : ''}`);
  }
}

/** The migrations the repository holds for a service, oldest first. */
export function migrationNames(service: Service): string[] {
  return readdirSync(path.join(SHARED_DB_ROOT, 'prisma', service, 'migrations'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

/**
 * A database the single-history layout made holds every schema, with one history in
 * public._prisma_migrations. Each service's first migration is what that history applied for its schema,
 * so it is recorded as applied in the service's own history; its later migrations then apply as usual.
 */
async function adoptSingleHistory(service: Service, ownerUrl: string, setting: string, quiet: boolean): Promise<boolean> {
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
  await prisma(service, ['migrate', 'resolve', '--applied', FIRST_MIGRATION], ownerUrl, quiet);
  return true;
}

/** Retires the single history once every service in that database has its own. */
async function retireSingleHistory(ownerUrl: string, setting: string): Promise<void> {
  await withClient(ownerUrl, setting, async (client) => {
    const { rows } = await client.query<{ remaining: number }>(
      `SELECT count(*)::int AS remaining FROM unnest($1::text[]) AS s(name) WHERE to_regclass(format('%I._prisma_migrations', s.name)) IS NULL`,
      [SERVICES],
    );
    if ((rows[0]?.remaining ?? 1) === 0) await client.query(`ALTER TABLE IF EXISTS public._prisma_migrations RENAME TO ${RETIRED_HISTORY}`);
  });
}

/** Fails with one line naming the setting when a service's schema lacks migrations this code needs. */
export async function assertMigrated(service: Service, url: string, setting: string): Promise<void> {
  const applied = await withClient(url, setting, async (client) => {
    try {
      const { rows } = await client.query<{ migration_name: string }>(
        `SELECT migration_name FROM "${service}"._prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
      );
      return new Set(rows.map((row) => row.migration_name));
    } catch (error) {
      if (['42P01', '3F000', '42501'].includes((error as { code?: string }).code ?? '')) return new Set<string>();
      throw error;
    }
  });
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
async function assertNotMovedAway(service: Service, ownerUrl: string, setting: string): Promise<void> {
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

/**
 * Everything the owner does for one service before it connects: its database (created if missing), its
 * role, its schema's migrations (adopting the single history of an older database), then the grants.
 * Idempotent.
 */
async function prepareService(connection: ServiceConnection, ownerUrl: string, dedicated: boolean, quiet: boolean): Promise<void> {
  const { service, source } = connection;
  await ensureDatabase(ownerUrl, source);
  await assertNotMovedAway(service, ownerUrl, source);
  await ensureServiceRole(ownerUrl, connection);
  // Prisma keeps the history in the schema on the search path, which must exist before the first deploy.
  await withClient(ownerUrl, source, (client) => client.query(`CREATE SCHEMA IF NOT EXISTS "${service}"`));
  await adoptSingleHistory(service, ownerUrl, source, quiet);
  await prisma(service, ['migrate', 'deploy'], ownerUrl, quiet);
  await applyGrants(ownerUrl, connection, { dedicated });
}

/**
 * Prepares the services' databases as the environment places them (see `serviceConnection`): all four
 * by default, or those named.
 */
export async function prepareDatabases(env: NodeJS.ProcessEnv = process.env, options: { services?: readonly Service[]; quiet?: boolean } = {}): Promise<void> {
  const services = options.services ?? SERVICES;
  const connections = new Map(services.map((service) => [service, serviceConnection(service, env)] as const));
  /** Where a service's database is; unknown for a service the settings do not place (not being prepared). */
  const place = (service: Service) => {
    try {
      return databaseIdentity(serviceConnection(service, env).url);
    } catch (error) {
      if (error instanceof ConfigError) return undefined;
      throw error;
    }
  };
  const owners = new Map(services.map((service) => [service, ownerUrlFor(service, env)] as const));
  for (const [service, ownerUrl] of owners) {
    const dedicated = SERVICES.every((other) => other === service || place(other) !== place(service));
    await prepareService(connections.get(service) as ServiceConnection, ownerUrl, dedicated, options.quiet ?? false);
  }
  const databases = new Map(
    [...owners].map(([service, ownerUrl]) => [place(service), { ownerUrl, setting: (connections.get(service) as ServiceConnection).source }]),
  );
  for (const { ownerUrl, setting } of databases.values()) await retireSingleHistory(ownerUrl, setting);
}
