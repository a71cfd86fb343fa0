import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { REPOSITORY_ROOT, pollUntil } from '@fedstack/runtime';
import { loadGatewayConfig } from './config';
import { createGatewayServer } from './server';

/** A stand-in for auth that answers every call with `me` under `email`. */
async function standIn(email: string): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    req.resume().on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: { me: { email } } })));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`, server };
}

describe('a reloaded supergraph', () => {
  it("sends a subgraph's calls to the routing URL the new supergraph gives it", async () => {
    const folder = mkdtempSync(path.join(os.tmpdir(), 'fedstack-supergraph-'));
    const file = path.join(folder, 'supergraph.graphql');
    const committed = readFileSync(path.join(REPOSITORY_ROOT, 'supergraph.graphql'), 'utf8');
    const authAt = (url: string) => committed.replace('"http://127.0.0.1:4001/graphql"', JSON.stringify(url));
    const [before, after] = [await standIn('before@example.com'), await standIn('after@example.com')];
    writeFileSync(file, authAt(before.url));
    // Routing from the supergraph alone: no <NAME>_SUBGRAPH_URL to override it.
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.endsWith('_SUBGRAPH_URL')));
    const gateway = await createGatewayServer({
      config: loadGatewayConfig({ ...env, GATEWAY_PORT: '0', SUPERGRAPH_FILE: file, SUPERGRAPH_POLL_MS: '50', LOG_LEVEL: 'silent' }),
    });
    const url = `${await gateway.listen()}/graphql`;
    const email = async () => {
      const answer = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ me { email } }' }) });
      return ((await answer.json()) as { data?: { me: { email: string } } }).data?.me.email;
    };
    try {
      expect(await email()).toBe('before@example.com');
      writeFileSync(file, authAt(after.url));
      await pollUntil('the gateway calling auth where the new supergraph says', async () => ((await email()) === 'after@example.com' ? true : undefined), {
        timeoutMs: 10_000,
        intervalMs: 100,
      });
    } finally {
      await gateway.stop();
      before.server.close();
      after.server.close();
      rmSync(folder, { recursive: true, force: true });
    }
  });
});

describe('the supergraph at start', () => {
  it('stops the gateway naming SUPERGRAPH_FILE when it cannot be read (it said only "ENOENT: no such file or directory")', async () => {
    const missing = path.join(os.tmpdir(), `fedstack-no-supergraph-${process.pid}.graphql`);
    await expect(
      createGatewayServer({ config: loadGatewayConfig({ ...process.env, GATEWAY_PORT: '0', SUPERGRAPH_FILE: missing, LOG_LEVEL: 'silent' }) }),
    ).rejects.toThrow(`SUPERGRAPH_FILE: cannot read ${missing} (ENOENT): run npm run compose, or point it at a supergraph`);
  });
});
