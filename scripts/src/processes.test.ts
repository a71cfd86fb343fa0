import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPOSITORY_ROOT, SUBGRAPH_URL_SETTINGS, freePort, pollUntil, readSettings } from '@fedstack/runtime';
import { assertPortsFree, planStack, routing, startProcess, waitUntilReady } from './processes';

/** What a process started by the launcher sees of Node's compile cache. */
async function compileCacheSeen(env: NodeJS.ProcessEnv): Promise<string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fedstack-processes-'));
  try {
    const entry = path.join(dir, 'print.js');
    writeFileSync(entry, 'process.stdout.write(String(process.env.NODE_COMPILE_CACHE));');
    const child = startProcess({ name: 'gateway', entry, nodeOptions: [], port: 1, portVariable: 'GATEWAY_PORT' }, env, ['ignore', 'pipe', 'inherit']);
    let printed = '';
    child.stdout?.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    await new Promise((resolve) => child.on('close', resolve));
    return printed;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("the launcher's processes and Node's compile cache", () => {
  it('get a folder of ours in the temporary folder', async () => {
    expect(await compileCacheSeen({ PATH: process.env.PATH })).toBe(path.join(os.tmpdir(), 'fedstack-compile-cache'));
  });

  it("keep an operator's own NODE_COMPILE_CACHE", async () => {
    expect(await compileCacheSeen({ PATH: process.env.PATH, NODE_COMPILE_CACHE: '/var/cache/node' })).toBe('/var/cache/node');
  });
});

describe('the addresses the launcher gives its processes', () => {
  it('write an IPv6 HOST in brackets (HOST=::1 stopped npm start: "AUTH_SUBGRAPH_URL is not a valid http(s) URL")', () => {
    const urls = routing(planStack({}), '::1', {});
    expect(urls.AUTH_SUBGRAPH_URL).toMatch(/^http:\/\/\[::1\]:\d+\/graphql$/);
    expect(() => readSettings(urls, SUBGRAPH_URL_SETTINGS)).not.toThrow();
    expect(routing(planStack({}), '127.0.0.1', {}).AUTH_SUBGRAPH_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/graphql$/);
  });
});

describe('METRICS_PORT under the launcher', () => {
  it('gives each process a port of its own: METRICS_PORT for the gateway, the next four for the subgraphs (all five were given one port)', () => {
    const ports = Object.fromEntries(planStack({ METRICS_PORT: '9400' }).map(({ name, metricsPort }) => [name, metricsPort]));
    expect(ports).toEqual({ gateway: 9400, auth: 9401, profile: 9402, payments: 9403, admin: 9404 });
    expect(planStack({}).every(({ metricsPort }) => metricsPort === undefined)).toBe(true);
    expect(planStack({ METRICS_PORT: '0' }).every(({ metricsPort }) => metricsPort === 0)).toBe(true);
    expect(() => planStack({ METRICS_PORT: '65533' })).toThrow('METRICS_PORT must be at most 65531 under npm start');
    // A port given twice is refused before anything starts: the second process to listen on it stopped the stack.
    expect(() => planStack({ METRICS_PORT: '3998' })).toThrow(
      'port 4001 is given to both auth (AUTH_PORT) and the metrics of payments (METRICS_PORT): give each a port of its own',
    );
    expect(() => planStack({ AUTH_PORT: '4003' })).toThrow('port 4003 is given to both auth (AUTH_PORT) and payments (PAYMENTS_PORT)');
  });

  it('passes each process its own port, over the one in its environment', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fedstack-processes-'));
    try {
      const entry = path.join(dir, 'print.js');
      writeFileSync(entry, 'process.stdout.write(String(process.env.METRICS_PORT));');
      const admin = planStack({ METRICS_PORT: '9400' }).find(({ name }) => name === 'admin');
      const child = startProcess({ ...admin!, entry, nodeOptions: [] }, { PATH: process.env.PATH, METRICS_PORT: '9400' }, ['ignore', 'pipe', 'inherit']);
      let printed = '';
      child.stdout?.on('data', (chunk: Buffer) => (printed += chunk.toString()));
      await new Promise((resolve) => child.on('close', resolve));
      expect(printed).toBe('9404');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is checked free before anything starts, naming the process and the variable', async () => {
    const taken = http.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      const [first] = planStack({ METRICS_PORT: String(port) }).filter(({ name }) => name === 'gateway');
      await expect(assertPortsFree([{ ...first!, port: await freePort() }], '127.0.0.1')).rejects.toThrow(
        `port ${port} on 127.0.0.1 is already in use, so gateway cannot serve its metrics (free it or set METRICS_PORT)`,
      );
    } finally {
      taken.close();
    }
  });
});

describe('the address the stack listens on', () => {
  it.each(['10.99.99.99', 'bogus.invalid'])('is refused naming HOST when nothing can listen on it (%s), not taken for ports in use', async (host) => {
    await expect(assertPortsFree(planStack({}), host)).rejects.toThrow(
      new RegExp(`^HOST: nothing can listen on ${host.replace(/\./g, '\\.')} \\((EADDRNOTAVAIL|ENOTFOUND|EAI_AGAIN)\\): give an address of this machine`),
    );
  });
});

describe('waiting for a process to be ready', () => {
  it('fails at once, naming the signal, for a process killed before it was (it said "exited with code null", or waited out its time)', async () => {
    const child = spawn(process.execPath, ['-e', "process.kill(process.pid, 'SIGKILL')"]);
    await new Promise((resolve) => child.once('exit', resolve));
    await expect(waitUntilReady({ name: 'auth', port: await freePort() }, '127.0.0.1', child, { timeoutMs: 5000 })).rejects.toThrow(
      'auth was killed by SIGKILL before it was ready',
    );
  });
});

describe('a process the launcher started, when the launcher is killed with kill -9', () => {
  it('stops as it does on Ctrl-C (it ran on holding its port, and the next npm start could not start)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fedstack-processes-'));
    const runtime = JSON.stringify(path.join(REPOSITORY_ROOT, 'runtime', 'dist', 'index.js'));
    const processes = JSON.stringify(path.join(REPOSITORY_ROOT, 'scripts', 'dist', 'processes.js'));
    // A server as the services run (runtime's `serve`), and a launcher that starts it as npm start does.
    const service = path.join(dir, 'service.js');
    writeFileSync(
      service,
      `const http = require('node:http');
      require(${runtime}).serve(async () => {
        const server = http.createServer().listen(0, '127.0.0.1');
        await new Promise((resolve) => server.once('listening', resolve));
        console.log('listening');
        const logger = { info: (fields, message) => console.log(message, JSON.stringify(fields)), error: console.error };
        return { logger, stop: () => new Promise((resolve) => server.close(() => resolve(console.log('stopped')))) };
      });`,
    );
    const launcher = spawn(
      process.execPath,
      [
        '-e',
        `const { pid } = require(${processes}).startProcess({ name: 'profile', entry: ${JSON.stringify(service)}, nodeOptions: [], port: 1, portVariable: 'PROFILE_PORT' }, process.env, undefined, undefined, true);
        console.log(pid);
        setInterval(() => undefined, 60_000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let printed = '';
    // The service writes to the launcher's output, which it holds open until it exits.
    const closed = new Promise((resolve) => launcher.stdout.on('close', resolve));
    launcher.stdout.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    try {
      await pollUntil('the service listening', async () => printed.includes('listening') || undefined, { timeoutMs: 30_000, intervalMs: 20 });
      launcher.kill('SIGKILL');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`the service ran on:\n${printed}`)), 10_000)))]);
      clearTimeout(timer);
      expect(printed.split('\n').slice(2, 4)).toEqual(['shutting down {"reason":"the process that started it has exited"}', 'stopped']);
    } finally {
      launcher.kill('SIGKILL');
      // Whatever the outcome, nothing is left running (a pid of 0 would be this test's own process group).
      const pid = Number(printed.split('\n')[0]);
      try {
        if (pid > 0) process.kill(pid, 'SIGKILL');
      } catch {
        // gone, as it should be
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
