import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { GraphQLObjectType, GraphQLSchema, GraphQLString } from 'graphql';
import WebSocket from 'ws';
import { createLogger } from './logger';
import { pollUntil } from './poll';
import { serveGraphQLOverWebSocket, SLOW_CONSUMER_CLOSE } from './websocket';

/** A subscription that sends as fast as it may: 64 kB a result, until its reader stops it. */
const schema = new GraphQLSchema({
  query: new GraphQLObjectType({ name: 'Query', fields: { ok: { type: GraphQLString, resolve: () => 'ok' } } }),
  subscription: new GraphQLObjectType({
    name: 'Subscription',
    fields: {
      flood: {
        type: GraphQLString,
        async *subscribe() {
          for (;;) {
            yield { flood: 'x'.repeat(64 * 1024) };
            await new Promise((resolve) => setImmediate(resolve));
          }
        },
      },
    },
  }),
});

describe('GraphQL over WebSocket, under its limits', () => {
  let httpServer: http.Server;
  let url: string;
  let slowConsumers = 0;
  let ws: ReturnType<typeof serveGraphQLOverWebSocket>;

  beforeAll(async () => {
    httpServer = http.createServer((_req, res) => res.writeHead(404).end());
    ws = serveGraphQLOverWebSocket(httpServer, {
      path: '/graphql',
      graphql: { schema },
      limits: { maxPayloadBytes: 4096, maxBufferedBytes: 512 * 1024, keepAliveMs: 60_000 },
      logger: createLogger('test', 'silent'),
      onSlowConsumer: () => (slowConsumers += 1),
    });
    await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    url = `ws://127.0.0.1:${(httpServer.address() as AddressInfo).port}/graphql`;
  });
  afterAll(async () => {
    await ws.close();
    await new Promise((resolve) => httpServer.close(resolve));
  });

  const open = async () => {
    const socket = new WebSocket(url, 'graphql-transport-ws');
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    return socket;
  };
  const closeCode = (socket: WebSocket) => new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));

  it('disconnects a client that stops reading, once its backlog passes the bound, and counts it', async () => {
    const socket = await open();
    socket.send(JSON.stringify({ type: 'connection_init' }));
    await new Promise((resolve) => socket.once('message', resolve));
    socket.send(JSON.stringify({ type: 'subscribe', id: '1', payload: { query: 'subscription { flood }' } }));
    // The client's own socket stops reading: what the server sends piles up on the server's side.
    (socket as unknown as { _socket: { pause(): void } })._socket.pause();
    await pollUntil('a slow consumer dropped', () => slowConsumers === 1, { timeoutMs: 20_000 });
    await pollUntil('the connection gone', () => ws.connections === 0, { timeoutMs: 5_000 });
    socket.terminate();
  });

  it('closes on a frame over the payload bound (1009), a binary frame (4400) and a malformed one (4400)', async () => {
    const oversized = await open();
    oversized.send(JSON.stringify({ type: 'connection_init', payload: { padding: 'x'.repeat(8192) } }));
    expect(await closeCode(oversized)).toBe(1009);
    const binary = await open();
    binary.send(Buffer.from([1, 2, 3]));
    expect(await closeCode(binary)).toBe(4400);
    const malformed = await open();
    malformed.send('{ not json');
    expect(await closeCode(malformed)).toBe(4400);
  });

  it('refuses an upgrade on another path', async () => {
    const socket = new WebSocket(url.replace('/graphql', '/elsewhere'), 'graphql-transport-ws');
    const failure = await new Promise<Error>((resolve) => socket.once('error', resolve));
    expect(failure.message).toMatch(/404/);
  });

  it('says goodbye with 1001 (going away) to every client when closed', async () => {
    const second = http.createServer();
    const closing = serveGraphQLOverWebSocket(second, {
      path: '/graphql',
      graphql: { schema },
      limits: { maxPayloadBytes: 4096, maxBufferedBytes: 1024, keepAliveMs: 60_000 },
      logger: createLogger('test', 'silent'),
    });
    await new Promise<void>((resolve) => second.listen(0, '127.0.0.1', resolve));
    const socket = new WebSocket(`ws://127.0.0.1:${(second.address() as AddressInfo).port}/graphql`, 'graphql-transport-ws');
    await new Promise((resolve) => socket.once('open', resolve));
    const code = closeCode(socket);
    await closing.close();
    expect(await code).toBe(1001);
    await new Promise((resolve) => second.close(resolve));
  });

  it('names the slow-consumer close code RFC 6455 calls a policy violation', () => {
    expect(SLOW_CONSUMER_CLOSE).toBe(1008);
  });
});
