// The PostgreSQL server the stack runs on: the one the settings name, or an embedded one; and fresh databases for a test run.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, REPOSITORY_ROOT, SERVICES, freePort, integer, portIsFree, readSettings, setting, text, type Service } from '@fedstack/runtime';
import { databaseLayout, serviceUrlVariable, type DatabaseLayout } from './config';
import { startEmbeddedPostgres, type RunningPostgres } from './embedded';
import { dropReplicaSlot, startEmbeddedReplica } from './replica';
import { connectOrExplain } from './connections';
import { ensureDatabase } from './setup';

export const DEFAULT_EMBEDDED_PORT = 54329;
const DEFAULT_DATA_DIR = path.join(REPOSITORY_ROOT, '.data', 'postgres');

/** Where the embedded server listens and keeps its data, when it is the one started. */
export const EMBEDDED_SETTINGS = {
  EMBEDDED_PG_PORT: setting(integer(DEFAULT_EMBEDDED_PORT, { max: 65535 }), "the embedded PostgreSQL's port (127.0.0.1 only)"),
  EMBEDDED_PG_DATA_DIR: setting(text(DEFAULT_DATA_DIR), 'where the embedded PostgreSQL keeps its data', '`.data/postgres`'),
};
const DEFAULT_DATABASE = 'fedstack';

/** Whether `npm start` runs a streaming replica of the embedded server beside it. */
export const EMBEDDED_REPLICA_SETTINGS = {
  DB_REPLICAS: setting(
    integer(0, { min: 0, max: 1 }),
    "`1`: a streaming replica of the embedded PostgreSQL too, given to the services as their replicas: under `npm start` on `EMBEDDED_PG_PORT` + 1 (its data beside the primary's, `<data dir>-replica`), under `npm test` on a free port",
  ),
};

/** A server that `npm start` keeps running: how it ended if it did, and how to stop and start it again. */
export interface SupervisedServer {
  /**
   * The process id of a server found running from the same data (an earlier run's, another command's)
   * and used as it is: it is not this process's to stop or restart. Undefined when this process started it.
   */
  adoptedPid: number | undefined;
  stop(): Promise<void>;
  /** Resolves, saying how, when it exits without being stopped. */
  exited(): Promise<string>;
  /** Starts it again, on the same data and port, after it exited. */
  restart(): Promise<void>;
}

export interface ProvisionedServer {
  /**
   * The settings that place the databases: what the environment already said, plus DATABASE_URL when an
   * embedded server was started for it. Every process of the stack reads the same.
   */
  env: NodeJS.ProcessEnv;
  /** True when the databases are on an embedded PostgreSQL, started by this process or found running (`adoptedPid`). */
  embedded: boolean;
  /** As for a supervised server: the embedded server's process id when this process did not start it. */
  adoptedPid: number | undefined;
  /** Stops the embedded server, if one was started; a no-op otherwise. */
  stop(): Promise<void>;
  /**
   * Resolves, saying how, when the embedded server this process started exits without being stopped (a
   * crash, a kill); never otherwise.
   */
  exited(): Promise<string>;
  /** Starts the embedded server again, on the same data and port, after it exited. */
  restart(): Promise<void>;
  /** The embedded server's streaming replica, when one was asked for (`replicas: 1`). */
  replica: SupervisedServer | undefined;
}

/** True when one of the services has neither DATABASE_URL nor a database of its own. */
function needsServer(env: NodeJS.ProcessEnv, services: readonly Service[]): boolean {
  return !env.DATABASE_URL && services.some((service) => !env[serviceUrlVariable(service)]);
}

/**
 * True when a database the command will use is on the embedded server's port of this machine: a service
 * moved to a database of its own there (README), whose commands found nothing listening once `npm start`
 * had stopped, and could not be run while it served.
 */
function onEmbeddedServer(env: NodeJS.ProcessEnv, urls: readonly (string | undefined)[], port: number): boolean {
  return [env.DATABASE_URL, ...SERVICES.map((service) => env[serviceUrlVariable(service)]), ...urls].some((text) => {
    const url = text ? URL.parse(text) : null;
    return url !== null && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname) && Number(url.port || 5432) === port;
  });
}

/**
 * The databases the stack (or the services named) runs on, as the environment places them
 * (DATABASE_URL, DB_LAYOUT, `<SERVICE>_DATABASE_URL`). When one of them would have none, an embedded PostgreSQL starts with its data
 * under `.data/postgres`, and DATABASE_URL points at its `fedstack` database. Databases are created when
 * the services' databases are prepared (`prepareDatabases`), not here.
 */
export async function provisionServer(
  options: {
    env?: NodeJS.ProcessEnv;
    services?: readonly Service[];
    /** Databases named outright (db:split's --from and --to), which may be on the embedded server too. */
    urls?: readonly (string | undefined)[];
    detached?: boolean;
    onLog?: (line: string) => void;
    replicas?: number;
  } = {},
): Promise<ProvisionedServer> {
  const env = options.env ?? process.env;
  databaseLayout(env);
  const settings = readSettings(env, EMBEDDED_SETTINGS);
  const needed = needsServer(env, options.services ?? SERVICES);
  // Started for the databases the settings name there, which keep their names, when nothing answers on its
  // port: one that does (the embedded server under npm start, or a server of the user's) is used as it is.
  const onItsPort = !needed && !options.replicas && onEmbeddedServer(env, options.urls ?? [], settings.EMBEDDED_PG_PORT);
  if (onItsPort && (await portIsFree(settings.EMBEDDED_PG_PORT, '127.0.0.1'))) {
    const server = await startEmbeddedPostgres({ dataDir: settings.EMBEDDED_PG_DATA_DIR, port: settings.EMBEDDED_PG_PORT });
    return {
      env,
      embedded: true,
      adoptedPid: server.adopted ? server.pid : undefined,
      stop: () => server.stop(),
      exited: () => server.exited,
      restart: async () => undefined,
      replica: undefined,
    };
  }
  if (!needed) {
    if (options.replicas) {
      throw new ConfigError(
        'DB_REPLICAS starts a replica of the embedded PostgreSQL, which does not run when DATABASE_URL is set: give your replicas as DATABASE_REPLICA_URL instead',
      );
    }
    return {
      env,
      embedded: false,
      adoptedPid: undefined,
      stop: async () => undefined,
      exited: () => new Promise(() => undefined),
      restart: async () => undefined,
      replica: undefined,
    };
  }
  const start = () =>
    startEmbeddedPostgres({
      dataDir: settings.EMBEDDED_PG_DATA_DIR,
      port: settings.EMBEDDED_PG_PORT,
      ...(options.detached ? { detached: true } : {}),
      ...(options.onLog ? { onLog: options.onLog } : {}),
    });
  let server = await start();
  const url = new URL(server.url);
  url.pathname = `/${DEFAULT_DATABASE}`;
  let replica: RunningPostgres | undefined;
  const replicaPort = settings.EMBEDDED_PG_PORT + 1;
  const startReplica = () =>
    startEmbeddedReplica({
      primaryUrl: server.url,
      dataDir: `${settings.EMBEDDED_PG_DATA_DIR}-replica`,
      port: replicaPort,
      ...(options.detached ? { detached: true } : {}),
      ...(options.onLog ? { onLog: options.onLog } : {}),
    });
  try {
    await ensureDatabase(url.toString(), 'embedded PostgreSQL');
    if (options.replicas) {
      if (replicaPort > 65535) throw new ConfigError(`EMBEDDED_PG_PORT must be below 65535 with DB_REPLICAS=1: the replica listens on the next port`);
      replica = await startReplica();
    } else {
      // A replica run before and not now would keep the primary's WAL for good; the next one is made anew.
      await dropReplicaSlot(server.url, replicaPort);
    }
  } catch (error) {
    await server.stop();
    throw error;
  }
  const replicaUrl = replica ? new URL(replica.url) : undefined;
  if (replicaUrl) replicaUrl.pathname = `/${DEFAULT_DATABASE}`;
  return {
    env: { ...env, DATABASE_URL: url.toString(), ...(replicaUrl ? { DATABASE_REPLICA_URL: replicaUrl.toString() } : {}) },
    embedded: true,
    adoptedPid: server.adopted ? server.pid : undefined,
    stop: async () => {
      await replica?.stop();
      await server.stop();
    },
    exited: () => server.exited,
    async restart() {
      server = await start();
    },
    replica: replica && {
      adoptedPid: replica.adopted ? replica.pid : undefined,
      stop: () => (replica as RunningPostgres).stop(),
      exited: () => (replica as RunningPostgres).exited,
      async restart() {
        replica = await startReplica();
      },
    },
  };
}

export interface ScratchDatabases {
  /** The settings that place this run's databases, in the layout asked for. */
  env: Record<string, string>;
  /** Drops the databases (and stops the embedded server, if one was started for them). */
  drop(): Promise<void>;
}

/**
 * A test run's own server holds nothing worth keeping past a crash (its data is deleted when it stops), so
 * it never waits for the disk: no flush per commit or per database a test copies, and no full pages in the
 * WAL. The servers a test kills or fails over start with their own settings.
 */
const THROWAWAY_SETTINGS = { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' };

/**
 * New, empty databases for one test run, on DATABASE_URL's server when set, otherwise on an embedded
 * PostgreSQL of its own (temporary data, a free port). Shared: one database, given as DATABASE_URL. Split:
 * one per service, each given as `<SERVICE>_DATABASE_URL` (the owner's connection), as an operator who
 * moved every service out would set them. Runs never see each other's data. With `replicas: 1` (`DB_REPLICAS=1
 * npm test`), the embedded server gets a streaming replica too, given as each database's replica setting.
 */
export async function createScratchDatabases(
  layout: DatabaseLayout,
  env: NodeJS.ProcessEnv = process.env,
  options: { replicas?: number } = {},
): Promise<ScratchDatabases> {
  const name = `fedstack_test_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const setting = env.DATABASE_URL ? 'DATABASE_URL' : 'embedded PostgreSQL';
  if (options.replicas && env.DATABASE_URL) {
    throw new ConfigError(
      'DB_REPLICAS=1 runs the tests with a replica of the embedded PostgreSQL, which does not run when DATABASE_URL is set: unset one of them',
    );
  }
  const server = env.DATABASE_URL
    ? { url: env.DATABASE_URL, stop: async () => undefined }
    : await startEmbeddedPostgres({ dataDir: path.join(os.tmpdir(), name), port: await freePort(), ephemeral: true, settings: THROWAWAY_SETTINGS });
  const at = (database: string, on = server.url) => {
    const url = new URL(on);
    url.pathname = `/${database}`;
    return url.toString();
  };
  const databases =
    layout === 'shared' ? { DATABASE_URL: name } : Object.fromEntries(SERVICES.map((service) => [serviceUrlVariable(service), `${name}_${service}`]));
  const created: string[] = [];
  let replica: RunningPostgres | undefined;
  const drop = async () => {
    await replica?.stop();
    const client = await connectOrExplain(server.url, setting);
    try {
      for (const database of created) await client.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    } finally {
      await client.end();
      await server.stop();
    }
  };
  try {
    for (const database of Object.values(databases)) {
      await ensureDatabase(at(database), setting);
      created.push(database);
    }
    if (options.replicas)
      replica = await startEmbeddedReplica({
        primaryUrl: server.url,
        dataDir: path.join(os.tmpdir(), `${name}-replica`),
        port: await freePort(),
        ephemeral: true,
      });
  } catch (error) {
    await drop();
    throw error;
  }
  const placed: Record<string, string> = {};
  for (const [variable, database] of Object.entries(databases)) {
    placed[variable] = at(database);
    if (replica) placed[variable.replace(/DATABASE_URL$/, 'DATABASE_REPLICA_URL')] = at(database, replica.url);
  }
  return { env: placed, drop };
}
