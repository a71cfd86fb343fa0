import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { REPOSITORY_ROOT, STACK, freePort, portIsFree, portVariable } from '@fedstack/runtime';
import { firstQuery } from '@fedstack/scripts';
import { DEMO_ADMIN, ownerUrlFor } from '@fedstack/shared-db';
import pg from 'pg';

// `npm start` as a user runs it (the launcher it runs after building), on a database of its own on this
// run's server and on ports other than the defaults.

/** Ports fetch refuses (the browsers' list); a user may still choose one. */
const FETCH_BLOCKED = [6000, 6665, 6666, 6667, 6668, 6669, 6697, 10080];

interface Launch {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

function launch(env: NodeJS.ProcessEnv): Launch {
  const child = spawn(process.execPath, [path.join(REPOSITORY_ROOT, 'scripts', 'dist', 'start.js')], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** Resolves once the output contains `text`; rejects if the launcher exits first. */
async function until(run: Launch, text: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!run.output().includes(text)) {
    if (run.child.exitCode !== null) throw new Error(`the launcher exited (${run.child.exitCode}) before printing "${text}":\n${run.output()}`);
    if (Date.now() > deadline) throw new Error(`the launcher did not print "${text}" within ${timeoutMs / 1000} s:\n${run.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('npm start', () => {
  const databases: string[] = [];
  const server = new URL(ownerUrlFor('auth'));

  /** Settings for one launch: a database of its own, free ports, nothing inherited from this test run. */
  async function settings(ports: Partial<Record<string, number>> = {}): Promise<NodeJS.ProcessEnv> {
    const database = `${server.pathname.slice(1)}_launcher_${databases.length}_${Date.now().toString(36)}`;
    databases.push(database);
    const url = new URL(server);
    url.pathname = `/${database}`;
    const env: NodeJS.ProcessEnv = { DATABASE_URL: url.toString(), LOG_LEVEL: 'warn' };
    for (const { name } of STACK) env[portVariable(name)] = String(ports[name] ?? (await freePort()));
    return env;
  }

  afterAll(async () => {
    const client = new pg.Client(server.toString());
    await client.connect();
    for (const database of databases) await client.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await client.end();
  });

  it('serves on the ports it is given, routes the gateway to them, and is ready only when a query reaches every subgraph', async () => {
    let gatewayPort: number | undefined;
    for (const port of FETCH_BLOCKED) if (await portIsFree(port, '127.0.0.1')) gatewayPort = port;
    if (gatewayPort === undefined) console.warn(`every port fetch refuses is taken here (${FETCH_BLOCKED.join(', ')}); the gateway gets another`);
    const env = await settings(gatewayPort ? { gateway: gatewayPort } : {});
    const run = launch(env);
    try {
      await until(run, 'Everything is ready.');
      const gateway = `http://127.0.0.1:${env.GATEWAY_PORT}/graphql`;
      expect(run.output()).toContain(`GraphQL API (gateway): ${gateway}`);
      for (const name of ['auth', 'profile', 'payments', 'admin'] as const) {
        expect(run.output()).toContain(`${name} subgraph: http://127.0.0.1:${env[portVariable(name)]}/graphql`);
      }
      // What the launcher checked before saying so, asked again by a client.
      await expect(firstQuery(gateway, DEMO_ADMIN)).resolves.toBeUndefined();
    } finally {
      run.child.kill('SIGINT');
    }
    expect(await run.exited).toBe(0);
    expect(await portIsFree(Number(env.GATEWAY_PORT), '127.0.0.1')).toBe(true);
  });

  it('does not say it is ready when the gateway cannot reach a subgraph, and says which', async () => {
    const env = await settings();
    // An explicit routing URL wins over the port the launcher started payments on: here, a closed one.
    const run = launch({ ...env, PAYMENTS_SUBGRAPH_URL: `http://127.0.0.1:${await freePort()}/graphql` });
    expect(await run.exited).toBe(1);
    expect(run.output()).not.toContain('Everything is ready');
    expect(run.output()).toMatch(/error: the first query through the gateway, which every subgraph answers part of, failed: .*\(payments\)/);
  });
});
