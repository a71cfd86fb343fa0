import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { REPOSITORY_ROOT, STACK, freePort, portVariable } from '@fedstack/runtime';
import { ownerUrlFor } from '@fedstack/shared-db';
import pg from 'pg';

/** `npm start` (the launcher it runs once built), running or run, with what it printed. */
export interface Launch {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  /** Resolves once the output contains `text`; rejects if the launcher exits first or the time is up. */
  until(text: string, timeoutMs?: number): Promise<void>;
}

/** `detached`: the launcher leads a process group of its own, as a shell's foreground job does, for a test to signal the whole group as a terminal does. */
export function launch(env: NodeJS.ProcessEnv, options: { detached?: boolean } = {}): Launch {
  const child = spawn(process.execPath, [path.join(REPOSITORY_ROOT, 'scripts', 'dist', 'start.js')], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    exited,
    async until(text, timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      while (!output.includes(text)) {
        if (child.exitCode !== null) throw new Error(`the launcher exited (${child.exitCode}) before printing "${text}":\n${output}`);
        if (Date.now() > deadline) throw new Error(`the launcher did not print "${text}" within ${timeoutMs / 1000} s:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    },
  };
}

/**
 * Settings for launches that each get a database of their own on this run's server and free ports (or
 * those given), inheriting nothing else from the test run; `drop` removes the databases afterwards.
 */
export function launchSettings() {
  const server = new URL(ownerUrlFor('auth'));
  const databases: string[] = [];
  return {
    async next(ports: Partial<Record<string, number>> = {}): Promise<NodeJS.ProcessEnv> {
      const database = `${server.pathname.slice(1)}_launch_${databases.length}_${Date.now().toString(36)}`;
      databases.push(database);
      const url = new URL(server);
      url.pathname = `/${database}`;
      const env: NodeJS.ProcessEnv = { DATABASE_URL: url.toString(), LOG_LEVEL: 'warn' };
      for (const { name } of STACK) env[portVariable(name)] = String(ports[name] ?? (await freePort()));
      return env;
    },
    async drop(): Promise<void> {
      const client = new pg.Client(server.toString());
      await client.connect();
      for (const database of databases) await client.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
      await client.end();
    },
  };
}

/** The processes `parent` started that still run, with their command lines (Linux's /proc). */
export function childrenOf(parent: number): { pid: number; command: string }[] {
  return readdirSync('/proc').flatMap((entry) => {
    if (!/^\d+$/.test(entry)) return [];
    try {
      // The parent's id is the second field after the command's name, which is in parentheses and may hold spaces.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      return ppid === parent ? [{ pid: Number(entry), command: readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ') }] : [];
    } catch {
      return []; // gone meanwhile
    }
  });
}
