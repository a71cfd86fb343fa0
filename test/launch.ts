import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { REPOSITORY_ROOT, STACK, freePort, portVariable } from '@fedstack/runtime';
import { ownerUrlFor } from '@fedstack/shared-db';
import { queryAt } from '@fedstack/shared-db/testing';
import { copyOfRunDatabase } from './worker-databases';

/** `npm start` (the launcher it runs once built), running or run, with what it printed. */
export interface Launch {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  /** Resolves once the output contains `text`; rejects if the launcher exits first or the time is up. */
  until(text: string, timeoutMs?: number): Promise<void>;
  /**
   * Ctrl-C at a terminal: SIGINT to the whole process group of a `detached` launch, whatever of it still
   * runs; nothing when none does (so that a test's `finally` leaves the failure that ended it to be reported).
   */
  interrupt(): void;
}

/** `detached`: the launcher leads a process group of its own, as a shell's foreground job does, for a test to signal the whole group as a terminal does. */
export function launch(env: NodeJS.ProcessEnv, options: { detached?: boolean } = {}): Launch {
  const child = spawn(process.execPath, [path.join(REPOSITORY_ROOT, 'scripts', 'dist', 'start.js')], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  let output = '';
  let closed = false;
  const printed = new EventEmitter();
  const append = (chunk: Buffer) => {
    output += chunk.toString();
    printed.emit('change');
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  // 'close': once its output has all been read, not merely once it exited.
  child.on('close', () => {
    closed = true;
    printed.emit('change');
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    exited,
    interrupt() {
      try {
        process.kill(-(child.pid as number), 'SIGINT');
      } catch (error) {
        // No process of the group is left.
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
      }
    },
    until(text, timeoutMs = 120_000) {
      // As soon as it is printed; the timer only bounds a launch that hangs.
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (output.includes(text)) finish();
          else if (closed) finish(new Error(`the launcher exited (${child.exitCode}) before printing "${text}":\n${output}`));
        };
        const timer = setTimeout(() => finish(new Error(`the launcher did not print "${text}" within ${timeoutMs / 1000} s:\n${output}`)), timeoutMs);
        function finish(error?: Error) {
          clearTimeout(timer);
          printed.off('change', check);
          if (error) reject(error);
          else resolve();
        }
        printed.on('change', check);
        check();
      });
    },
  };
}

/**
 * Settings for launches that each get a database of their own on this run's server and free ports (or
 * those given), inheriting nothing else from the test run; `drop` removes the databases afterwards. The
 * database is a copy of the run's, migrated and seeded, so that the launcher finds it ready as it does
 * on every start but the first (which global setup has made, the same way); in the split layout, a new,
 * empty one, which the launcher prepares.
 */
export function launchSettings() {
  const server = new URL(ownerUrlFor('auth'));
  server.pathname = '/postgres';
  const drops: (() => Promise<void>)[] = [];
  return {
    async next(ports: Partial<Record<string, number>> = {}): Promise<NodeJS.ProcessEnv> {
      const copy = await copyOfRunDatabase('launch');
      let url = copy?.url;
      if (copy) drops.push(() => copy.drop());
      else {
        const fresh = new URL(ownerUrlFor('auth'));
        const database = `${fresh.pathname.slice(1)}_launch_${drops.length}_${Date.now().toString(36)}`;
        fresh.pathname = `/${database}`;
        url = fresh.toString();
        drops.push(async () => void (await queryAt(server.toString(), `DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)));
      }
      const env: NodeJS.ProcessEnv = { DATABASE_URL: url, LOG_LEVEL: 'warn' };
      for (const { name } of STACK) env[portVariable(name)] = String(ports[name] ?? (await freePort()));
      return env;
    },
    async drop(): Promise<void> {
      for (const drop of drops) await drop();
    },
  };
}

/** Every process's parent, from one pass over Linux's /proc. */
function parentsOfAll(): Map<number, number> {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The parent's id is the second field after the command's name, which is in parentheses and may hold spaces.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  return parents;
}

/** The processes among `pids` that still run, with their command lines. */
function withCommands(pids: number[]): { pid: number; command: string }[] {
  return pids.flatMap((pid) => {
    try {
      return [{ pid, command: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ') }];
    } catch {
      return []; // gone meanwhile
    }
  });
}

/** The processes `parent` started that still run, with their command lines. */
export function childrenOf(parent: number): { pid: number; command: string }[] {
  return withCommands([...parentsOfAll()].filter(([, ppid]) => ppid === parent).map(([pid]) => pid));
}

/** Every process below `ancestor` (children, theirs, and so on), with their command lines. */
export function descendantsOf(ancestor: number): { pid: number; command: string }[] {
  const parents = parentsOfAll();
  const below = (pid: number): boolean => {
    for (let parent = parents.get(pid); parent !== undefined && parent > 1; parent = parents.get(parent)) if (parent === ancestor) return true;
    return false;
  };
  return withCommands([...parents.keys()].filter(below));
}
