import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { GraphQLObjectType, GraphQLSchema, GraphQLString } from 'graphql';
import WebSocket from 'ws';
import { createLogger } from './logger';
import { pollUntil } from './poll';
import { serveGraphQLOverWebSocket, SLOW_CONSUMER_CLOSE } from './websocket';

const slowly = { made: 0, ended: 0 };
/** Results the flood has made. */
let flooded = 0;

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
            flooded += 1;
            yield { flood: 'x'.repeat(64 * 1024) };
            await new Promise((resolve) => setImmediate(resolve));
          }
        },
      },
      /** A subscription that takes a moment to start, then sends every 50 ms; `slowly` counts those made and those ended. */
      slowly: {
        type: GraphQLString,
        async subscribe() {
          await new Promise((resolve) => setTimeout(resolve, 200));
          slowly.made += 1;
          const ticks = (async function* () {
            for (;;) {
              yield { slowly: 'tick' };
              await new Promise((resolve) => setTimeout(resolve, 50));
            }
          })();
          const end = ticks.return.bind(ticks);
          ticks.return = (value) => {
            slowly.ended += 1;
            return end(value);
          };
          return ticks;
        },
      },
      /** One result of 40,000 characters, each 3 bytes in UTF-8: 120 kB. */
      wide: {
        type: GraphQLString,
        async *subscribe() {
          yield { wide: '€'.repeat(40_000) };
        },
      },
      /** Five results of 2 kB at once. */
      chunks: {
        type: GraphQLString,
        async *subscribe() {
          for (let index = 0; index < 5; index += 1) yield { chunks: String(index).repeat(2048) };
        },
      },
      /** Five results at once, as a subgraph's subscriptions send when one change reaches five of them. */
      burst: {
        type: GraphQLString,
        async *subscribe() {
          for (let index = 0; index < 5; index += 1) yield { burst: String(index) };
        },
      },
    },
  }),
});

/** GraphQL over WebSocket on a server of its own, listening: the server, its WebSocket side, its URL, and a stop for both. */
async function serving(limits: { maxBufferedBytes: number; keepAliveMs: number; whenBehind?: 'wait' }, onSlowConsumer?: () => void) {
  const httpServer = http.createServer((_req, res) => res.writeHead(404).end());
  const ws = serveGraphQLOverWebSocket(httpServer, {
    path: '/graphql',
    graphql: { schema },
    limits: { maxPayloadBytes: 4096, ...limits },
    logger: createLogger('test', 'silent'),
    ...(onSlowConsumer ? { onSlowConsumer } : {}),
  });
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  return {
    httpServer,
    ws,
    url: `ws://127.0.0.1:${(httpServer.address() as AddressInfo).port}/graphql`,
    stop: async () => {
      await ws.close();
      await new Promise((resolve) => httpServer.close(resolve));
    },
  };
}

describe('GraphQL over WebSocket, under its limits', () => {
  let server: Awaited<ReturnType<typeof serving>>;
  let url: string;
  let slowConsumers = 0;

  beforeAll(async () => {
    server = await serving({ maxBufferedBytes: 512 * 1024, keepAliveMs: 60_000 }, () => (slowConsumers += 1));
    url = server.url;
  });
  afterAll(() => server.stop());

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
    await pollUntil('the connection gone', () => server.ws.connections === 0, { timeoutMs: 5_000 });
    socket.terminate();
  });

  it("holds a subscription's results, rather than the connection, while a connection that waits (the gateway's) has its bound waiting", async () => {
    const waiting = await serving({ maxBufferedBytes: 512 * 1024, keepAliveMs: 60_000, whenBehind: 'wait' });
    const socket = new WebSocket(waiting.url, 'graphql-transport-ws');
    try {
      await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
      socket.send(JSON.stringify({ type: 'connection_init' }));
      await new Promise((resolve) => socket.once('message', resolve));
      const underlying = (socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      underlying.pause();
      flooded = 0;
      socket.send(JSON.stringify({ type: 'subscribe', id: '1', payload: { query: 'subscription { flood }' } }));
      // Made until the bound is waiting, and the kernel's buffers are full: then no more while nothing is read.
      await pollUntil(
        'the flood held up',
        async () => {
          const before = flooded;
          await new Promise((resolve) => setTimeout(resolve, 300));
          return before > 0 && flooded === before ? true : undefined;
        },
        { timeoutMs: 20_000 },
      );
      expect(waiting.ws.connections).toBe(1);
      // Read again, it goes on.
      const held = flooded;
      underlying.resume();
      await pollUntil('the flood going on', async () => (flooded > held + 10 ? true : undefined), { timeoutMs: 10_000 });
    } finally {
      socket.terminate();
      await waiting.stop();
    }
  });

  it('sends everything on a connection that waits, with a bound below what its socket holds before it says it is full (it waited for ever)', async () => {
    const waiting = await serving({ maxBufferedBytes: 1024, keepAliveMs: 60_000, whenBehind: 'wait' });
    const socket = new WebSocket(waiting.url, 'graphql-transport-ws');
    try {
      const messages: { type: string }[] = [];
      socket.on('message', (data) => messages.push(JSON.parse((data as Buffer).toString()) as { type: string }));
      await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
      socket.send(JSON.stringify({ type: 'connection_init' }));
      await pollUntil('acknowledged', async () => (messages.length > 0 ? true : undefined), { timeoutMs: 2000 });
      socket.send(JSON.stringify({ type: 'subscribe', id: '1', payload: { query: 'subscription { chunks }' } }));
      await pollUntil('every result and the end', async () => (messages.some((message) => message.type === 'complete') ? true : undefined), {
        timeoutMs: 3000,
      });
      expect(messages.map((message) => message.type)).toEqual(['connection_ack', 'next', 'next', 'next', 'next', 'next', 'complete']);
    } finally {
      socket.terminate();
      await waiting.stop();
    }
  });

  it('sends what one turn of the event loop produced in one write', async () => {
    // The server's writes to this client's TCP socket (a stream's _write or _writev is one system call).
    let writes = 0;
    const count = (_request: http.IncomingMessage, raw: Duplex) => {
      const stream = raw as Duplex & Record<'_write' | '_writev', (...args: unknown[]) => void>;
      for (const method of ['_write', '_writev'] as const) {
        const original = stream[method].bind(stream);
        stream[method] = (...args: unknown[]) => {
          writes += 1;
          original(...args);
        };
      }
    };
    server.httpServer.prependListener('upgrade', count);
    const socket = await open();
    server.httpServer.off('upgrade', count);
    const results: string[] = [];
    socket.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString()) as { type: string; payload?: { data?: { burst: string } } };
      if (message.type === 'next') results.push(message.payload?.data?.burst ?? '');
    });
    socket.send(JSON.stringify({ type: 'connection_init' }));
    await new Promise((resolve) => socket.once('message', resolve));
    const before = writes;
    socket.send(JSON.stringify({ type: 'subscribe', id: '1', payload: { query: 'subscription { burst }' } }));
    await pollUntil('five results', () => results.length === 5, { timeoutMs: 5_000 });
    expect(results).toEqual(['0', '1', '2', '3', '4']);
    // The five results and the completion: one write (each message had one of its own).
    expect(writes - before).toBe(1);
    socket.close();
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

  it('refuses, and lives through, an upgrade whose target is no path (it threw, and ended the process)', async () => {
    const { port } = new URL(url);
    for (const target of ['//', 'http://[::']) {
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = net.connect(Number(port), '127.0.0.1', () =>
          socket.write(`GET ${target} HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n`),
        );
        let received = '';
        socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
        socket.on('close', () => resolve(received));
        socket.on('error', reject);
      });
      expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    }
    const socket = await open();
    socket.close();
  });

  it('closes 4400, logging nothing, on a message type only a server sends (it closed 4500 and logged an error)', async () => {
    for (const message of [{ type: 'connection_ack' }, { id: '1', type: 'next', payload: {} }]) {
      const socket = await open();
      socket.send(JSON.stringify(message));
      expect(await closeCode(socket)).toBe(4400);
    }
  });

  // The second spelling escapes a letter of "subscribe", which JSON reads as the same word: the guard
  // looked for the word in the text, and let it through.
  it.each([
    ['as written', 'subscribe'],
    ['with an escaped letter', 'subscrib\\u0065'],
  ])(
    'takes an id again only once its operation has ended, "subscribe" %s: reused at once after a complete, it left the first running after the close',
    async (_spelling, type) => {
      slowly.made = 0;
      slowly.ended = 0;
      const socket = await open();
      const closed = closeCode(socket);
      socket.send(JSON.stringify({ type: 'connection_init' }));
      await new Promise((resolve) => socket.once('message', resolve));
      const subscribe = `{"id":"s","type":"${type}","payload":{"query":"subscription { slowly }"}}`;
      socket.send(subscribe);
      socket.send(JSON.stringify({ id: 's', type: 'complete' }));
      socket.send(subscribe);
      expect(await closed).toBe(4409);
      // The first operation's stream, made once it starts, is ended with the connection; the second was not taken.
      await pollUntil('every stream made ended', async () => (slowly.made > 0 && slowly.ended === slowly.made ? true : undefined), {
        timeoutMs: 2000,
        intervalMs: 20,
      });
      expect(slowly).toEqual({ made: 1, ended: 1 });
    },
  );

  it('refuses an upgrade on another path', async () => {
    const socket = new WebSocket(url.replace('/graphql', '/elsewhere'), 'graphql-transport-ws');
    const failure = await new Promise<Error>((resolve) => socket.once('error', resolve));
    expect(failure.message).toMatch(/404/);
  });

  it('survives a client that resets its connection as it is refused (an unhandled error on the socket ended the process)', async () => {
    const { port } = new URL(url);
    // Jest keeps its workers up through an error event no one listens to (it only prints it), where a
    // process of ours ends: what the refused sockets were left with is looked at after our handler ran.
    const unguarded: string[] = [];
    const look = (request: http.IncomingMessage, socket: Duplex) => void (socket.listenerCount('error') === 0 && unguarded.push(request.url ?? ''));
    server.httpServer.on('upgrade', look);
    for (let attempt = 0; attempt < 20; attempt += 1) {
      await new Promise<void>((resolve, reject) => {
        const socket = net.connect(Number(port), '127.0.0.1', () => {
          socket.write('GET /elsewhere HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n', () => {
            // A reset (RST) rather than a goodbye: the refusal is written to a connection already gone.
            socket.resetAndDestroy();
            resolve();
          });
        });
        socket.on('error', reject);
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    server.httpServer.off('upgrade', look);
    expect(unguarded).toEqual([]);
    const socket = new WebSocket(url.replace('/graphql', '/elsewhere'), 'graphql-transport-ws');
    const failure = await new Promise<Error>((resolve) => socket.once('error', resolve));
    expect(failure.message).toMatch(/404/);
  });

  it('counts what it sends in bytes: a result of 40,000 characters is 120 kB, over a bound of 100 kB (it was counted as 40 kB)', async () => {
    const second = await serving({ maxBufferedBytes: 100_000, keepAliveMs: 60_000 });
    try {
      const socket = new WebSocket(second.url, 'graphql-transport-ws');
      await new Promise((resolve) => socket.once('open', resolve));
      socket.send(JSON.stringify({ type: 'connection_init' }));
      await new Promise((resolve) => socket.once('message', resolve));
      const outcome = new Promise<string>((resolve) => {
        socket.on('close', (code) => resolve(`closed ${code}`));
        socket.on('message', (data: Buffer) => (JSON.parse(data.toString()) as { type: string }).type === 'complete' && resolve('sent whole'));
      });
      socket.send(JSON.stringify({ type: 'subscribe', id: '1', payload: { query: 'subscription { wide }' } }));
      expect(await outcome).toBe(`closed ${SLOW_CONSUMER_CLOSE}`);
    } finally {
      await second.stop();
    }
  });

  it('says goodbye with 1001 (going away) to every client when closed', async () => {
    const second = await serving({ maxBufferedBytes: 1024, keepAliveMs: 60_000 });
    const socket = new WebSocket(second.url, 'graphql-transport-ws');
    await new Promise((resolve) => socket.once('open', resolve));
    const code = closeCode(socket);
    await second.stop();
    expect(await code).toBe(1001);
  });

  it('cuts off, rather than waits 30 s for, a client that never answers the close', async () => {
    const second = await serving({ maxBufferedBytes: 1024 * 1024, keepAliveMs: 60_000 });
    const socket = new WebSocket(second.url, 'graphql-transport-ws');
    await new Promise((resolve) => socket.once('open', resolve));
    // A frozen client: it reads nothing more, so it never answers the server's close frame.
    (socket as unknown as { _socket: { pause(): void } })._socket.pause();
    const started = Date.now();
    await second.stop();
    const tookMs = Date.now() - started;
    socket.terminate();
    // ws's own wait for the answer is 30 s.
    expect(tookMs).toBeLessThan(10_000);
  }, 40_000);

  it('names the slow-consumer close code RFC 6455 calls a policy violation', () => {
    expect(SLOW_CONSUMER_CLOSE).toBe(1008);
  });
});

describe('GraphQL over WebSocket keep-alive', () => {
  it('drops a connection that does not answer pings, and keeps one that does', async () => {
    const { ws, url, stop } = await serving({ maxBufferedBytes: 512 * 1024, keepAliveMs: 100 });
    const open = async (autoPong: boolean) => {
      const socket = new WebSocket(url, 'graphql-transport-ws', { autoPong });
      await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
      return socket;
    };
    const answering = await open(true);
    const silent = await open(false);
    try {
      let silentClosed = false;
      silent.once('close', () => (silentClosed = true));
      // Two rounds of pings: the silent one is dropped on the second.
      await pollUntil('the silent connection dropped', () => silentClosed, { timeoutMs: 2_000, intervalMs: 20 });
      // Many rounds later, the answering one is still open.
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect({ answering: answering.readyState, connections: ws.connections }).toEqual({ answering: WebSocket.OPEN, connections: 1 });
    } finally {
      answering.terminate();
      silent.terminate();
      await stop();
    }
  });
});
