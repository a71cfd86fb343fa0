// The stack's processes as `npm start` runs them: their ports and routing, started, awaited until ready, and stopped.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import {
  ConfigError,
  DEFAULT_PORTS,
  HOST_SETTING,
  METRICS_PORT_SETTING,
  REPOSITORY_ROOT,
  STACK,
  SUBGRAPH_URL_SETTINGS,
  pollUntil,
  isService,
  subgraphUrls,
  logLevelSetting,
  serverUrl,
  portIsFree,
  portSetting,
  portVariable,
  readSettings,
  type StackProcessName,
} from '@fedstack/runtime';
import { DATABASE_SETTINGS, EMBEDDED_REPLICA_SETTINGS, EMBEDDED_SETTINGS, REPLICA_SETTINGS } from '@fedstack/shared-db';

/** What `npm start` reads: it passes them on to the processes it starts, with the ports and routing it chose. */
export const LAUNCHER_SETTINGS = {
  ...HOST_SETTING,
  ...logLevelSetting('warn'),
  ...EMBEDDED_REPLICA_SETTINGS,
  ...METRICS_PORT_SETTING,
};

/** Every setting `npm start` reads, for the settings table. */
export const LAUNCHER_READS = {
  ...LAUNCHER_SETTINGS,
  ...Object.fromEntries(STACK.map(({ name }) => [portVariable(name), portSetting(name)[portVariable(name)]])),
  ...DATABASE_SETTINGS,
  ...REPLICA_SETTINGS,
  ...EMBEDDED_SETTINGS,
  ...SUBGRAPH_URL_SETTINGS,
};

export interface PlannedProcess {
  name: StackProcessName;
  entry: string;
  /** Node's options for it (its heap sizing), before the entry point. */
  nodeOptions: readonly string[];
  port: number;
  /** The variable that sets the port, named in errors. */
  portVariable: string;
  /** Its own port for metrics, from METRICS_PORT; undefined, on its API port. */
  metricsPort?: number;
}

/**
 * Each process with the port its `<NAME>_PORT` variable gives, or its default; and, when METRICS_PORT is
 * set, a metrics port of its own: METRICS_PORT for the gateway and the next four for the subgraphs, in
 * the order of their API ports (all five were given the one port, and the second to listen failed).
 */
export function planStack(env: NodeJS.ProcessEnv = process.env): PlannedProcess[] {
  const { METRICS_PORT } = readSettings(env, METRICS_PORT_SETTING);
  const planned = STACK.map(({ name, entry, nodeOptions }): PlannedProcess => {
    const variable = portVariable(name);
    const port = readSettings(env, portSetting(name))[variable];
    // The launcher wires the processes to each other by port, so it cannot let the system choose one.
    if (port === 0) throw new ConfigError(`${variable} cannot be 0 under npm start: the other processes must know where ${name} listens`);
    const metricsPort = METRICS_PORT ? METRICS_PORT + DEFAULT_PORTS[name] - DEFAULT_PORTS.gateway : METRICS_PORT;
    if (metricsPort !== undefined && metricsPort > 65_535) {
      throw new ConfigError(
        `METRICS_PORT must be at most 65531 under npm start, which gives the next four ports to the subgraphs' metrics (got ${METRICS_PORT})`,
      );
    }
    return { name, entry, nodeOptions, portVariable: variable, port, ...(metricsPort === undefined ? {} : { metricsPort }) };
  });
  // Each is free until the first of two processes given it listens on it: the second then stopped the stack.
  const holders = new Map<number, string>();
  for (const { port, holder } of portsOf(planned)) {
    const other = holders.get(port);
    if (other) throw new ConfigError(`port ${port} is given to both ${other} and ${holder}: give each a port of its own`);
    holders.set(port, holder);
  }
  return planned;
}

/** Every port a plan listens on (a metrics port only where one is given): who listens, what for, and the variable that sets it. */
function portsOf(processes: PlannedProcess[]) {
  return processes.flatMap(({ name, port, portVariable, metricsPort }) => [
    { port, name, variable: portVariable, holder: `${name} (${portVariable})`, purpose: 'start' },
    ...(metricsPort
      ? [{ port: metricsPort, name, variable: 'METRICS_PORT', holder: `the metrics of ${name} (METRICS_PORT)`, purpose: 'serve its metrics' }]
      : []),
  ]);
}

/**
 * Where each subgraph answers, for the gateway's routing and the services' calls to each other: the
 * ports this launcher starts them on, unless `<NAME>_SUBGRAPH_URL` says otherwise.
 */
export function routing(processes: PlannedProcess[], host: string, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const given = subgraphUrls(env);
  return Object.fromEntries(
    processes.flatMap(({ name, port }) => (isService(name) ? [[`${name.toUpperCase()}_SUBGRAPH_URL`, given[name] ?? serverUrl(host, port, '/graphql')]] : [])),
  );
}

/** Fails with one line naming the process and the variable when a port is taken. */
export async function assertPortsFree(processes: PlannedProcess[], host: string): Promise<void> {
  for (const { name, port, variable, purpose } of portsOf(processes)) {
    const free = await portIsFree(port, host).catch((error: NodeJS.ErrnoException) => {
      throw new ConfigError(`HOST: nothing can listen on ${host} (${error.code ?? error.message}): give an address of this machine, such as 127.0.0.1`);
    });
    if (!free) {
      throw new ConfigError(`port ${port} on ${host} is already in use, so ${name} cannot ${purpose} (free it or set ${variable})`);
    }
  }
}

/**
 * Node's compile cache for every process the launcher starts: V8's code for each module kept on disk, so
 * that a process started again (each `npm start`, a restart after a crash) skips compiling its
 * dependencies, about a fifth of a subgraph's start-up CPU (0.45 to 0.36 s). An operator's own
 * NODE_COMPILE_CACHE wins, and Node's NODE_DISABLE_COMPILE_CACHE=1 turns it off.
 */
function compileCache(env: NodeJS.ProcessEnv): { NODE_COMPILE_CACHE: string } {
  return { NODE_COMPILE_CACHE: env.NODE_COMPILE_CACHE || path.join(os.tmpdir(), 'fedstack-compile-cache') };
}

/**
 * Starts one process of the stack with `env` plus its port, and Node's compile cache. A subgraph trusts
 * the client address the gateway reports from this machine (TRUST_PROXY=loopback), which its login
 * throttling needs. `node` is the runtime to run it on (the benchmark runs the stack on Node 24 as
 * well); an absolute `entry` runs another checkout's build (the benchmark's baseline). `detached` starts
 * it in a session of its own, out of the terminal's process group: Ctrl-C then reaches only the
 * launcher, which stops it in turn. The IPC channel (`stdio`'s default; runtime's `whenStarterGone`)
 * carries no messages: it closes when the caller dies, however it died, and the process then stops.
 */
export function startProcess(
  target: PlannedProcess,
  env: NodeJS.ProcessEnv,
  stdio: StdioOptions = ['ignore', 'inherit', 'inherit', 'ipc'],
  node: string = process.execPath,
  detached = false,
): ChildProcess {
  const trust = isService(target.name) ? { TRUST_PROXY: 'loopback' } : {};
  return spawn(node, [...target.nodeOptions, path.resolve(REPOSITORY_ROOT, target.entry)], {
    env: {
      ...env,
      ...compileCache(env),
      ...trust,
      [target.portVariable]: String(target.port),
      ...(target.metricsPort === undefined ? {} : { METRICS_PORT: String(target.metricsPort) }),
    },
    stdio,
    detached,
  });
}

/**
 * The status a GET answers with, over node:http rather than fetch: fetch refuses a list of ports
 * browsers block (6000, 6665…), which a user may well give a process.
 */
export function httpStatus(url: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { timeout: timeoutMs }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('timeout', () => request.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
    request.on('error', reject);
  });
}

/** Polls the process's readiness path until it answers 200; fails at once if the process exits, or when the time is up. */
export async function waitUntilReady(
  target: { name: string; port: number },
  host: string,
  child: ChildProcess,
  options: { timeoutMs?: number; path?: string } = {},
): Promise<void> {
  const { timeoutMs = 60_000, path: readinessPath = '/readyz' } = options;
  const url = serverUrl(host, target.port, readinessPath);
  let onExit: (() => void) | undefined;
  const stop = new AbortController();
  const exited = new Promise<never>((_, reject) => {
    // A process killed by a signal has no exit code, only the signal.
    onExit = () =>
      reject(new Error(`${target.name} ${child.signalCode ? `was killed by ${child.signalCode}` : `exited with code ${child.exitCode}`} before it was ready`));
    if (child.exitCode !== null || child.signalCode !== null) onExit();
    else child.once('exit', onExit);
  });
  try {
    await Promise.race([
      exited,
      pollUntil(`ready on ${url}`, async () => (await httpStatus(url, 1000)) === 200, { timeoutMs, intervalMs: 200, signal: stop.signal }).catch(
        (error: Error) => {
          throw new Error(`${target.name} was ${error.message.replace(/ within (\d+) ms$/, (_, ms: string) => ` within ${Number(ms) / 1000} s`)}`);
        },
      ),
    ]);
  } finally {
    stop.abort();
    if (onExit) child.off('exit', onExit);
  }
}

/** SIGTERM, then SIGKILL if the process has not exited after 15 s. */
export function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
