import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
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

export function launch(env: NodeJS.ProcessEnv): Launch {
  const child = spawn(process.execPath, [path.join(REPOSITORY_ROOT, 'scripts', 'dist', 'start.js')], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
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
