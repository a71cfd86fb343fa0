import type { ChildProcess } from 'node:child_process';
import { freePort } from '@fedstack/runtime';
import type { StackProcessName } from '@fedstack/runtime';
import { createScratchDatabases, prepareDatabases, seedDemoData, type ScratchDatabases } from '@fedstack/shared-db';
import { planStack, routing, startProcess, stopProcess, waitUntilReady, type PlannedProcess } from '@fedstack/scripts';
import { testTokens } from '@fedstack/service-kit/testing';
import { within } from './clients';
import { UNPLACED, runLayout } from './worker-databases';

const HOST = '127.0.0.1';
/** How long a process of the stack has to become ready: seconds on this machine, busy; a test's own time is longer. */
const READY_WITHIN_MS = 30_000;

export interface ProcessStack {
  gatewayUrl: string;
  /** The settings every process was started with (ports, keys, the run's databases). */
  env: NodeJS.ProcessEnv;
  tokens: Awaited<ReturnType<typeof testTokens>>;
  /**
   * Starts a process of the stack (again), on its port, and waits until it is ready; `env` adds settings.
   * Refuses one that is running, and any once the stack has stopped: a test that outlasted its time goes
   * on running after Jest has moved on, and a process it started then would be nobody's to stop.
   */
  start(name: StackProcessName, env?: NodeJS.ProcessEnv): Promise<void>;
  /**
   * SIGTERM, as an orchestrator stops a process, or (`starter gone`) its IPC channel closed, as when the
   * `npm start` that started it dies: how it exited, and how long it took (SIGKILL after 15 s).
   */
  terminate(name: StackProcessName, how?: 'SIGTERM' | 'starter gone'): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
  /** kill -9: no shutdown, nothing flushed. */
  crash(name: StackProcessName): Promise<void>;
  /** SIGSTOP: the process holds its connections and answers nothing, as a hung one does; `thaw` resumes it. */
  freeze(name: StackProcessName): void;
  thaw(name: StackProcessName): void;
  /** What a process wrote to stdout and stderr (JSON logs, and anything printed outside them), since the stack started. */
  output(name: StackProcessName): string;
  /** The process's id while it runs (a gateway of several workers: its primary's). */
  pid(name: StackProcessName): number | undefined;
  /** Processes that exited without the test stopping them, and how. */
  unexpectedExits(): { name: StackProcessName; code: number | null; signal: NodeJS.Signals | null }[];
  stop(): Promise<void>;
}

/**
 * The stack as `npm start` runs it, one process per service, on the run's databases: for tests that
 * kill processes. `extraEnv` is given to every process (shorter retry intervals, say).
 */
export async function startProcessStack(extraEnv: NodeJS.ProcessEnv = {}): Promise<ProcessStack> {
  const tokens = await testTokens();
  const names: StackProcessName[] = ['auth', 'profile', 'payments', 'admin', 'gateway'];
  const ports = Object.fromEntries(await Promise.all(names.map(async (name) => [`${name.toUpperCase()}_PORT`, String(await freePort())] as const)));
  const processes = planStack(ports);
  const env: NodeJS.ProcessEnv = { ...process.env, ...tokens.env, ...routing(processes, HOST, {}), HOST, LOG_LEVEL: 'warn', ...extraEnv };
  const running = new Map<StackProcessName, ChildProcess>();
  const outputs = new Map<StackProcessName, string>();
  const unexpected: ReturnType<ProcessStack['unexpectedExits']> = [];
  const target = (name: StackProcessName) => processes.find((entry) => entry.name === name) as PlannedProcess;
  let stopped = false;
  // Whatever is still running when the test's worker exits (a hook that timed out) goes with it.
  const killRunning = () => {
    for (const child of running.values()) child.kill('SIGKILL');
  };
  process.once('exit', killRunning);
  const stack: ProcessStack = {
    gatewayUrl: `http://${HOST}:${target('gateway').port}/graphql`,
    env,
    tokens,
    async start(name, extra = {}) {
      if (stopped) throw new Error(`the stack has stopped: ${name} is not started again`);
      const current = running.get(name);
      if (current && current.exitCode === null && current.signalCode === null) throw new Error(`${name} is already running`);
      // With the launcher's IPC channel: a jest worker that dies takes the stack's processes with it.
      const child = startProcess(target(name), { ...env, ...extra }, ['ignore', 'pipe', 'pipe', 'ipc']);
      running.set(name, child);
      const record = (chunk: Buffer) => outputs.set(name, (outputs.get(name) ?? '') + chunk.toString());
      child.stdout?.on('data', record);
      child.stderr?.on('data', (chunk: Buffer) => {
        record(chunk);
        process.stderr.write(chunk);
      });
      // A process the test stops or kills has left `running` by the time it exits.
      child.on('exit', (code, signal) => running.get(name) === child && unexpected.push({ name, code, signal }));
      await waitUntilReady(target(name), HOST, child, { timeoutMs: READY_WITHIN_MS });
    },
    async terminate(name, how = 'SIGTERM') {
      const child = running.get(name);
      running.delete(name);
      if (!child) throw new Error(`${name} is not running`);
      const started = Date.now();
      if (how === 'starter gone') {
        // Given 10 s to stop by itself, before the SIGTERM below (which a quick test then sees it needed).
        child.disconnect();
        let timer: NodeJS.Timeout | undefined;
        await new Promise((resolve) => {
          timer = setTimeout(resolve, 10_000);
          child.once('exit', resolve);
        });
        clearTimeout(timer);
      }
      await stopProcess(child);
      return { code: child.exitCode, signal: child.signalCode, ms: Date.now() - started };
    },
    async crash(name) {
      const child = running.get(name);
      running.delete(name);
      if (!child || child.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      });
    },
    freeze(name) {
      running.get(name)?.kill('SIGSTOP');
    },
    thaw(name) {
      running.get(name)?.kill('SIGCONT');
    },
    output: (name) => outputs.get(name) ?? '',
    pid: (name) => running.get(name)?.pid,
    unexpectedExits: () => [...unexpected],
    async stop() {
      stopped = true;
      process.off('exit', killRunning);
      const children = [...running.values()];
      running.clear();
      // A frozen process could not act on the stop signal.
      for (const child of children) child.kill('SIGCONT');
      await Promise.all(children.map(stopProcess));
    },
  };
  try {
    for (const name of names) await stack.start(name);
  } catch (error) {
    await stack.stop();
    throw error;
  }
  return stack;
}

/**
 * The stack on a PostgreSQL of the test's own (`databaseUrl`, the owner's), in the run's layout, migrated
 * and seeded, and on nothing of the run's: for tests that kill or replace the database server.
 */
export async function startProcessStackOn(databaseUrl: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<{ stack: ProcessStack; scratch: ScratchDatabases }> {
  const scratch = await createScratchDatabases(runLayout(), { DATABASE_URL: databaseUrl });
  await prepareDatabases(scratch.env, { quiet: true });
  await seedDemoData(scratch.env);
  return { stack: await startProcessStack({ ...UNPLACED, ...scratch.env, ...extraEnv }), scratch };
}

/** Waits until `condition` holds within `boundMs`, failing at once, with what it printed, if a process of the stack has exited. */
export function untilWhileUp(stack: ProcessStack, boundMs: number, condition: () => boolean | Promise<boolean>): Promise<number> {
  return within(boundMs, async () => {
    const [exit] = stack.unexpectedExits();
    if (exit) throw new Error(`${exit.name} exited (${exit.signal ?? `exit code ${exit.code}`}):\n${stack.output(exit.name).slice(-3000)}`);
    return condition();
  });
}
