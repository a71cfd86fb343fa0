// Provisioning: each service's database, role, migrations and grants, prepared by the owner before the services connect.
import pg from 'pg';
import { SHARED_DATABASE_SETTINGS, databaseIdentity, ownerUrlFor, serviceConnection, type ServiceConnection } from './config';
import { ConfigError, SERVICES, readSettings, type Service } from '@fedstack/runtime';
import { assertNotMovedAway, assertNothingLeftBehind } from './checks';
import { withClient } from './connections';
import { DatabaseUnavailableError, explainConnectionError } from './errors';
import { grantStatements } from './grants';
import { adoptSingleHistory, retireSingleHistory } from './legacy-history';
import { applyPendingMigrations } from './migrations';
import { migrationNames, runPrisma } from './prisma-cli';
import { serviceRole } from './services';

/**
 * Creates the database a URL names if its server does not have it yet (through the server's `postgres`
 * database), or fails with one line when that user may not. True when this call created it.
 */
export async function ensureDatabase(url: string, setting: string): Promise<boolean> {
  const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  let missing: unknown;
  try {
    await probe.connect();
    return false;
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
    return await withClient(server.toString(), setting, async (client) => {
      try {
        await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
        return true;
      } catch (error) {
        // Two runs may race to create it (parallel test runs on one server).
        if ((error as { code?: string }).code !== '42P04') throw error;
        return false;
      }
    });
  } catch (error) {
    const { message } = explainConnectionError(missing, url, setting);
    throw new DatabaseUnavailableError(`${message}, and ${decodeURIComponent(server.username) || 'this user'} cannot create it (${(error as Error).message})`);
  }
}

/** Drops the database a URL names (through the server's `postgres` database), if no one is connected to it. */
export async function dropDatabase(url: string, setting: string): Promise<void> {
  const server = new URL(url);
  const database = decodeURIComponent(server.pathname.slice(1));
  server.pathname = '/postgres';
  await withClient(server.toString(), setting, (client) => client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(database)}`));
}

/**
 * Creates a service's role if missing, and sets its password when the settings give one; safe to run
 * again. The role can log in and nothing more: no superuser, no role or database creation, no inherited
 * privileges. The development default is set on a role this creates, never on one that exists: roles
 * belong to the whole server, and a command run without the password (`db:split` as the README writes it,
 * on a production server) would otherwise reset the role's real one to the default in this repository.
 */
export async function ensureServiceRole(ownerUrl: string, connection: ServiceConnection): Promise<void> {
  await withClient(ownerUrl, connection.source, async (client) => {
    const { role, password, passwordGiven } = connection;
    const passwordLiteral = client.escapeLiteral(password);
    const existing = await client.query<RoleAttributes>(
      'SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolinherit FROM pg_roles WHERE rolname = $1',
      [role],
    );
    let [found] = existing.rows;
    if (!found) {
      try {
        await client.query(`CREATE ROLE "${role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD ${passwordLiteral}`);
        return;
      } catch (error) {
        // Two runs may race to create a role (parallel test runs on one server); the loser finds it made.
        if ((error as { code?: string }).code !== '42710') throw error;
        found = { rolcanlogin: true, rolsuper: false, rolcreatedb: false, rolcreaterole: false, rolinherit: false };
      }
    }
    // Only what differs: PostgreSQL lets only a superuser write NOSUPERUSER, and (16 and later) only a
    // role with CREATEDB write NOCREATEDB, so the owner of a managed database (CREATEROLE, not a
    // superuser) failed every run after the one that created the role.
    const wrong = [
      !found.rolcanlogin && 'LOGIN',
      found.rolsuper && 'NOSUPERUSER',
      found.rolcreatedb && 'NOCREATEDB',
      found.rolcreaterole && 'NOCREATEROLE',
      found.rolinherit && 'NOINHERIT',
    ].filter((clause) => typeof clause === 'string');
    const clauses = [...wrong, ...(passwordGiven ? [`PASSWORD ${passwordLiteral}`] : [])];
    if (clauses.length === 0) return;
    try {
      await client.query(`ALTER ROLE "${role}" ${clauses.join(' ')}`);
    } catch (error) {
      if (wrong.length === 0 || (error as { code?: string }).code !== '42501') throw error;
      const alter = `ALTER ROLE "${role}" ${wrong.join(' ')}`;
      throw new Error(`${connection.source}: the role ${role} must be changed (${alter}), which its owner may not do: a superuser must run it`, {
        cause: error,
      });
    }
  });
}

/** What a service's role must be: able to log in, and nothing more. */
interface RoleAttributes {
  rolcanlogin: boolean;
  rolsuper: boolean;
  rolcreatedb: boolean;
  rolcreaterole: boolean;
  rolinherit: boolean;
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
  // The history is kept in the service's schema, which must exist before the first migration.
  await withClient(ownerUrl, source, (client) => client.query(`CREATE SCHEMA IF NOT EXISTS "${service}"`));
  await adoptSingleHistory(service, ownerUrl, source, quiet);
  const outcome = await applyPendingMigrations(service, ownerUrl, source);
  if (outcome === 'left to the CLI') await runPrisma(service, ['migrate', 'deploy'], ownerUrl, quiet);
  else if (!quiet) {
    console.log(
      outcome.applied.length === 0
        ? `${service}: every migration is applied (${migrationNames(service).length}); nothing to migrate.`
        : `${service}: applied ${outcome.applied.join(', ')}.`,
    );
  }
  await applyGrants(ownerUrl, connection, { dedicated });
}

/**
 * Prepares the services' databases as the environment places them (see `serviceConnection`): all four
 * by default, or those named.
 */
export async function prepareDatabases(env: NodeJS.ProcessEnv = process.env, options: { services?: readonly Service[]; quiet?: boolean } = {}): Promise<void> {
  const services = options.services ?? SERVICES;
  const connections = new Map(services.map((service) => [service, serviceConnection(service, env)] as const));
  const shared = readSettings(env, { DATABASE_URL: SHARED_DATABASE_SETTINGS.DATABASE_URL }).DATABASE_URL;
  if (shared) {
    const elsewhere = [...connections.values()].filter(({ url }) => databaseIdentity(url) !== databaseIdentity(shared));
    await assertNothingLeftBehind(
      elsewhere.map(({ service, source }) => ({
        service,
        setting: source === 'DATABASE_URL' ? 'DB_LAYOUT=split' : source,
        ownerUrl: ownerUrlFor(service, env),
      })),
      shared,
    );
  }
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
