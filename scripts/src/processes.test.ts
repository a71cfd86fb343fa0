import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SUBGRAPH_URL_SETTINGS, readSettings } from '@fedstack/runtime';
import { planStack, routing, startProcess } from './processes';

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
