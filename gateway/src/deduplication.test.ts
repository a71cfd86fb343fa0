import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadGatewayConfig } from './config';
import { createGatewayServer } from './server';
import type { GraphQLServer } from '@fedstack/runtime';

// DEDUPLICATE_QUERIES through a whole gateway: identical requests arriving together share a subgraph call.

describe('identical queries in flight at once', () => {
  const running: { gateway?: GraphQLServer; auth?: Server } = {};
  afterEach(async () => {
    await running.gateway?.stop();
    running.auth?.close();
  });

  /** A gateway in front of a stand-in for auth that answers every call after a second; how many calls it got. */
  async function gatewayWith(env: Record<string, string>) {
    const auth = { calls: 0 };
    running.auth = createServer((req, res) => {
      auth.calls += 1;
      req.resume().on('end', () => {
        const answer = JSON.stringify({ data: { me: { email: 'ada@example.com' } } });
        setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(answer), 1000);
      });
    });
    await new Promise<void>((resolve) => running.auth?.listen(0, '127.0.0.1', resolve));
    const authUrl = `http://127.0.0.1:${(running.auth.address() as AddressInfo).port}/graphql`;
    const config = loadGatewayConfig({ ...process.env, ...env, GATEWAY_PORT: '0', LOG_LEVEL: 'error', AUTH_SUBGRAPH_URL: authUrl });
    running.gateway = await createGatewayServer({ config });
    const url = `${await running.gateway.listen()}/graphql`;
    return { url, auth };
  }

  /** Twenty clients of one user asking the same query at once; what they were answered. */
  const twentyAtOnce = (url: string) =>
    Promise.all(
      Array.from({ length: 20 }, (_, n) =>
        fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: 'Bearer one-user', 'x-request-id': `same-${n}` },
          body: JSON.stringify({ query: 'query Me { me { email } }' }),
        }).then((response) => response.json()),
      ),
    );

  it('share one subgraph call with DEDUPLICATE_QUERIES=true (a call was shared only by requests that reached the gateway before it was sent: none did)', async () => {
    const { url, auth } = await gatewayWith({ DEDUPLICATE_QUERIES: 'true' });
    expect(await twentyAtOnce(url)).toEqual(Array(20).fill({ data: { me: { email: 'ada@example.com' } } }));
    expect(auth.calls).toBe(1);
  });

  it('each make their own call by default', async () => {
    const { url, auth } = await gatewayWith({});
    expect(await twentyAtOnce(url)).toEqual(Array(20).fill({ data: { me: { email: 'ada@example.com' } } }));
    expect(auth.calls).toBe(20);
  });
});
