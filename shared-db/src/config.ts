// How each service reaches its database: the settings, the two layouts, and the connection as its own role or as the owner.
import {
  ConfigError,
  NODE_ENV_SETTING,
  SERVICES,
  choice,
  integer,
  isProduction,
  readSetting,
  readSettings,
  setting,
  text,
  type Service,
  type Setting,
} from '@fedstack/runtime';
import { serviceRole } from './services';

/**
 * Where the services' databases are. `shared`: every service without a URL of its own uses DATABASE_URL's
 * database, one schema each. `split`: each such service gets a database of its own on DATABASE_URL's
 * server, named `<database>_<service>`. A service with `<SERVICE>_DATABASE_URL` uses that database in
 * either layout, so that services can be moved out one at a time (docs/adr/0006-split-databases.md).
 */
export type DatabaseLayout = 'shared' | 'split';

export const DATABASE_LAYOUTS: readonly DatabaseLayout[] = ['shared', 'split'];

/** The environment variable that gives one service a database of its own. */
export function serviceUrlVariable(service: Service): string {
  return `${service.toUpperCase()}_DATABASE_URL`;
}

/** The environment variable that gives one service replicas of its own database. */
export function serviceReplicaUrlVariable(service: Service): string {
  return `${service.toUpperCase()}_DATABASE_REPLICA_URL`;
}

/** The setting that gives a service's role its password (`PAYMENTS_DB_PASSWORD`). */
export function passwordVariable(service: Service): string {
  return `${service.toUpperCase()}_DB_PASSWORD`;
}

const SERVICE_URL_SETTING = setting(
  text(),
  "a service's own database: as the service's role, used as is; as another user (the owner), the service derives its role's connection",
  'derived',
);
const SERVICE_PASSWORD_SETTING = setting(
  text(),
  "a service role's password when its connection is derived from an owner's; required in production",
  'local-only default outside production',
);
/** Where the databases are, for every service at once: DATABASE_URL and DB_LAYOUT. */
export const SHARED_DATABASE_SETTINGS = {
  DATABASE_URL: setting(text(), "the database owner's connection; services derive their own role's connection from it", 'embedded PostgreSQL'),
  DB_LAYOUT: setting(
    choice(DATABASE_LAYOUTS, 'shared'),
    "`split`: each service without a URL of its own gets a database of its own on `DATABASE_URL`'s server, `<database>_<service>`",
  ),
};

const SERVICE_REPLICA_URL_SETTING = setting(
  text(),
  "streaming replicas of a service's own database (comma-separated, each as its role or as the owner, like `<SERVICE>_DATABASE_URL`), for its reads that may be a little behind",
  '`DATABASE_REPLICA_URL`, for a service on `DATABASE_URL`',
);
/**
 * Read replicas, for the services that use them: where they are and how far behind one may be. 1 s by
 * default: streaming keeps a healthy replica milliseconds behind, so one a second behind is struggling
 * (replay held up by a conflict, a saturated disk) and its reads are better served by the primary; and
 * a second is half the account policy's bound, which those reads must never stretch (docs/adr/0012-read-replicas.md).
 */
export const SHARED_REPLICA_SETTINGS = {
  DATABASE_REPLICA_URL: setting(
    text(),
    "streaming replicas of `DATABASE_URL`'s server (comma-separated owner's connections, each placed by `DB_LAYOUT` as `DATABASE_URL` is): reads that may be a little behind go to them, spread over",
    'none: every read on the primary',
  ),
  DB_REPLICA_MAX_LAG_MS: setting(
    integer(1000, { min: 0 }),
    'how far behind the primary a replica may be, in milliseconds, and still serve reads; one further behind, or down, is skipped for the primary',
  ),
};

/** Every replica setting, for the services and the settings table. */
export const REPLICA_SETTINGS: Record<string, Setting<unknown>> = {
  ...SHARED_REPLICA_SETTINGS,
  ...Object.fromEntries(SERVICES.map((service) => [serviceReplicaUrlVariable(service), SERVICE_REPLICA_URL_SETTING])),
};

/** Where the services' databases are, as every process that reaches one reads it. */
export const DATABASE_SETTINGS: Record<string, Setting<unknown>> = {
  ...SHARED_DATABASE_SETTINGS,
  ...Object.fromEntries(
    SERVICES.flatMap((service) => [
      [serviceUrlVariable(service), SERVICE_URL_SETTING],
      [passwordVariable(service), SERVICE_PASSWORD_SETTING],
    ]),
  ),
  ...NODE_ENV_SETTING,
};

/** Development-only password for a service role; production must set its own. */
function developmentPassword(service: Service): string {
  return `${serviceRole(service)}_local_only`;
}

/**
 * The `<SERVICE>_DB_PASSWORD` settings that name the development passwords, for a process run in
 * production mode against databases prepared outside it (the benchmark, the production test stack).
 */
export function developmentPasswordSettings(): Record<string, string> {
  return Object.fromEntries(SERVICES.map((service) => [passwordVariable(service), developmentPassword(service)]));
}

/** A PostgreSQL URL naming a database, or a ConfigError naming `setting` (a variable, or a command's flag). */
export function parseUrl(value: string, setting: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${setting} is not a valid URL (expected postgresql://user:password@host:port/database)`);
  }
  if (url.protocol !== 'postgresql:' && url.protocol !== 'postgres:') {
    throw new ConfigError(`${setting} must start with postgresql:// (got "${url.protocol}")`);
  }
  if (url.pathname.length <= 1) throw new ConfigError(`${setting} must name a database (postgresql://.../database)`);
  return url;
}

/** The layout DB_LAYOUT names; `shared` when unset. */
export function databaseLayout(env: NodeJS.ProcessEnv = process.env): DatabaseLayout {
  return readSettings(env, { DB_LAYOUT: SHARED_DATABASE_SETTINGS.DB_LAYOUT }).DB_LAYOUT;
}

/**
 * Where the settings place the services, in words (`npm start`'s banner): a service given a database of its
 * own (`<SERVICE>_DATABASE_URL`, one moved by db:split) is named, where the shared layout was said of all.
 */
export function describeLayout(env: NodeJS.ProcessEnv = process.env): string {
  const own = SERVICES.filter((service) => env[serviceUrlVariable(service)]);
  if (databaseLayout(env) === 'split' || own.length === SERVICES.length) return 'a database per service';
  if (own.length === 0) return 'one database, a schema per service';
  return `a database of its own for ${own.join(', ')}, one with a schema each for the others`;
}

export interface ServiceConnection {
  service: Service;
  /** The role the service connects as. */
  role: string;
  /** The service's own connection (as its role). */
  url: string;
  password: string;
  /** False for the development default (`<SERVICE>_DB_PASSWORD` unset): setup sets it on a role it creates, never on one that exists. */
  passwordGiven: boolean;
  /** The owner's connection to the same database, when the settings give one (migrations, seed, moves). */
  ownerUrl: string | undefined;
  /** The setting the database came from, for error messages. */
  source: string;
}

/** In production, a role's connection derived from the owner's without `<SERVICE>_DB_PASSWORD`. */
export class MissingPasswordError extends ConfigError {}

function asRole(owner: URL, service: Service, env: NodeJS.ProcessEnv, explicitVariable: string): { url: string; password: string; passwordGiven: boolean } {
  const given = readSetting(env, passwordVariable(service), SERVICE_PASSWORD_SETTING);
  const password = given ?? (isProduction(env) ? undefined : developmentPassword(service));
  if (password === undefined) {
    throw new MissingPasswordError(`${passwordVariable(service)} must be set in production (or set ${explicitVariable} as the role ${serviceRole(service)})`);
  }
  const url = new URL(owner);
  url.username = serviceRole(service);
  url.password = encodeURIComponent(password);
  return { url: url.toString(), password, passwordGiven: given !== undefined };
}

/**
 * Where a service's database is and how it connects to it. `<SERVICE>_DATABASE_URL` wins: as the service's
 * role it is used as is; as any other user it is the owner's connection to that database, from which the
 * role's is derived. Otherwise DATABASE_URL (the owner's), placed by DB_LAYOUT. A derived connection uses
 * `<SERVICE>_DB_PASSWORD`, which has a development default outside production.
 */
export function serviceConnection(service: Service, env: NodeJS.ProcessEnv = process.env): ServiceConnection {
  const role = serviceRole(service);
  const { url, source, roles } = placement(service, env);
  if (roles) return { service, role, url: url.toString(), password: decodeURIComponent(url.password), passwordGiven: true, ownerUrl: undefined, source };
  return { service, role, ...asRole(url, service, env, serviceUrlVariable(service)), ownerUrl: url.toString(), source };
}

/**
 * Where the settings place a service's database: the URL, the setting it came from, and whether it is the
 * service's role's own (`roles`) rather than the owner's. No password is needed to know it.
 */
function placement(service: Service, env: NodeJS.ProcessEnv): { url: URL; source: string; roles: boolean } {
  const explicitVariable = serviceUrlVariable(service);
  const explicit = readSetting(env, explicitVariable, SERVICE_URL_SETTING);
  if (explicit) {
    const url = parseUrl(explicit, explicitVariable);
    return { url, source: explicitVariable, roles: decodeURIComponent(url.username) === serviceRole(service) };
  }
  const shared = readSettings(env, { DATABASE_URL: SHARED_DATABASE_SETTINGS.DATABASE_URL }).DATABASE_URL;
  if (!shared) {
    throw new ConfigError(`neither ${explicitVariable} nor DATABASE_URL is set: the ${service} service has no database`);
  }
  const owner = parseUrl(shared, 'DATABASE_URL');
  if (databaseLayout(env) === 'split') owner.pathname = `${owner.pathname}_${service}`;
  return { url: owner, source: 'DATABASE_URL', roles: false };
}

/** Every service's connection, as the owner's setup steps need them. */
export function allServiceConnections(env: NodeJS.ProcessEnv = process.env): Record<Service, ServiceConnection> {
  return Object.fromEntries(SERVICES.map((service) => [service, serviceConnection(service, env)])) as Record<Service, ServiceConnection>;
}

/** The owner's connection to a service's database (migrations, seed, moves), or a one-line error naming the setting. */
export function ownerUrlFor(service: Service, env: NodeJS.ProcessEnv = process.env): string {
  // No role password is asked for here (in production db:split's source needed one only for this URL).
  const { url, source, roles } = placement(service, env);
  if (roles) {
    throw new ConfigError(
      `${source} connects as ${serviceRole(service)}, which cannot create roles or run migrations: ` +
        `give this command the owner's connection to the ${service} database in ${source}`,
    );
  }
  return url.toString();
}

/** The same database, whoever connects to it: host, port and database name. */
export function databaseIdentity(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || '5432'}${parsed.pathname}`;
}

/** One replica a service reads from: its role's connection, and the setting that named it (for errors). */
export interface ReplicaConnection {
  url: string;
  source: string;
}

/**
 * The replicas a service reads from: `<SERVICE>_DATABASE_REPLICA_URL` when set; otherwise, for a service
 * whose database DATABASE_URL places, `DATABASE_REPLICA_URL`'s servers, placed the same way (a physical
 * replica holds every database of its primary). Each connects as the service's role, derived from an
 * owner's URL as the primary's is. None when neither is set: every read goes to the primary.
 */
export function serviceReplicaConnections(service: Service, env: NodeJS.ProcessEnv = process.env): ReplicaConnection[] {
  const own = serviceReplicaUrlVariable(service);
  const ownUrls = readSetting(env, own, SERVICE_REPLICA_URL_SETTING);
  const primary = serviceConnection(service, env);
  const source = ownUrls ? own : primary.source === 'DATABASE_URL' ? 'DATABASE_REPLICA_URL' : undefined;
  const given =
    ownUrls ?? (source ? readSettings(env, { DATABASE_REPLICA_URL: SHARED_REPLICA_SETTINGS.DATABASE_REPLICA_URL }).DATABASE_REPLICA_URL : undefined);
  if (!source || !given) return [];
  return given
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const url = parseUrl(entry, source);
      if (source === 'DATABASE_REPLICA_URL' && databaseLayout(env) === 'split') url.pathname = `${url.pathname}_${service}`;
      if (decodeURIComponent(url.username) === primary.role) return { url: url.toString(), source };
      // The role's password is the primary's: roles are replicated with everything else.
      url.username = primary.role;
      url.password = encodeURIComponent(primary.password);
      return { url: url.toString(), source };
    });
}

/** How far behind the primary a replica may be and still serve reads (DB_REPLICA_MAX_LAG_MS). */
export function replicaMaxLagMs(env: NodeJS.ProcessEnv = process.env): number {
  return readSettings(env, { DB_REPLICA_MAX_LAG_MS: SHARED_REPLICA_SETTINGS.DB_REPLICA_MAX_LAG_MS }).DB_REPLICA_MAX_LAG_MS;
}
