import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { buildSchema, type FormattedExecutionResult } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { createLogger, freePort } from '@fedstack/runtime';
import { UpstreamSubscriptions } from './upstream';

// The gateway's connections to a subgraph's subscriptions, against a graphql-ws server that counts them.

const schema = buildSchema('type Query { ok: Boolean } type Subscription { ticks: Int, never: Int }');
const roots = {
  subscription: {
    async *ticks() {
      yield { ticks: 1 };
    },
    // Open until the connection goes: no event ever comes.
    async *never() {
      await new Promise(() => undefined);
      yield { never: 0 };
    },
  },
};

let server: http.Server;
let sockets: WebSocketServer;
let url: string;
let opened = 0;
let open = 0;
let subscribed = 0;

beforeAll(async () => {
  server = http.createServer();
  sockets = new WebSocketServer({ server, path: '/graphql' });
  sockets.on('connection', (socket) => {
    opened += 1;
    open += 1;
    socket.on('close', () => (open -= 1));
  });
  useServer({ schema, roots, onSubscribe: () => void (subscribed += 1) }, sockets);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
});
afterAll(async () => {
  for (const socket of sockets.clients) socket.terminate();
  await new Promise((resolve) => sockets.close(resolve));
  await new Promise((resolve) => server.close(resolve));
});

/** The gateway's side, to the test server unless `at` says where. */
function upstreams(options: { at?: string; idleCloseMs?: number; answerTimeoutMs?: number; pingEveryMs?: number } = {}) {
  const { at = url, answerTimeoutMs = 5_000, ...rest } = options;
  return new UpstreamSubscriptions({
    urlOf: () => at,
    assertion: async () => 'assertion',
    answerTimeoutMs,
    logger: createLogger('test', 'silent'),
    ...rest,
  });
}

/** Runs one subscription to its end: what it was sent. */
function tick(upstream: UpstreamSubscriptions): Promise<FormattedExecutionResult[]> {
  return new Promise((resolve, reject) => {
    const results: FormattedExecutionResult[] = [];
    upstream.subscribe(
      { subgraph: 'clock', query: 'subscription { ticks }', variables: {}, headers: {} },
      { next: (result) => results.push(result), error: reject, complete: () => resolve(results) },
    );
  });
}

/** Subscribes to `query` at `subgraph` and waits up to `boundMs` for how it ends: 'an event', 'completed', or the error. */
async function firstEnding(upstream: UpstreamSubscriptions, subgraph: string, query: string, boundMs: number): Promise<unknown> {
  let ended: unknown;
  upstream.subscribe(
    { subgraph, query, variables: {}, headers: {} },
    { next: () => (ended = 'an event'), error: (error) => (ended = error), complete: () => (ended = 'completed') },
  );
  await until(() => ended !== undefined, boundMs);
  return ended;
}

/**
 * How a subscription to a subgraph that answers nothing ended (within 2 s); then the next subscription's
 * connection waits no longer either, nor does the gateway's stop (asserted).
 */
async function failsThenClosesSoon(upstream: UpstreamSubscriptions): Promise<unknown> {
  const ended = await firstEnding(upstream, 'frozen', 'subscription { ticks }', 2_000);
  upstream.subscribe(
    { subgraph: 'frozen', query: 'subscription { ticks }', variables: {}, headers: {} },
    { next: () => undefined, error: () => undefined, complete: () => undefined },
  );
  const started = Date.now();
  await upstream.close();
  expect(Date.now() - started).toBeLessThan(2_000);
  return ended;
}

async function until(condition: () => boolean, boundMs = 5_000): Promise<void> {
  for (let waited = 0; !condition(); waited += 10) {
    if (waited > boundMs) throw new Error(`not within ${boundMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Watches the timers set from now on: those neither fired nor cleared that would keep the process
 * running (not unref'd).
 */
function watchTimers(): { pending(): number; stop(): void } {
  const realSetTimeout = global.setTimeout;
  const realClearTimeout = global.clearTimeout;
  const live = new Set<NodeJS.Timeout>();
  const set = jest.spyOn(global, 'setTimeout').mockImplementation(((callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const timer = realSetTimeout(
      (...given: unknown[]) => {
        live.delete(timer);
        callback(...given);
      },
      ms,
      ...args,
    );
    live.add(timer);
    return timer;
  }) as typeof setTimeout);
  const clear = jest.spyOn(global, 'clearTimeout').mockImplementation((timer) => {
    live.delete(timer as NodeJS.Timeout);
    realClearTimeout(timer);
  });
  return {
    pending: () => [...live].filter((timer) => timer.hasRef()).length,
    stop() {
      set.mockRestore();
      clear.mockRestore();
    },
  };
}

beforeEach(() => {
  opened = 0;
  subscribed = 0;
});

it('keeps one connection for the subscriptions that follow each other, and closes it once idle', async () => {
  const upstream = upstreams({ idleCloseMs: 200 });
  expect(await tick(upstream)).toEqual([{ data: { ticks: 1 } }]);
  expect(await tick(upstream)).toEqual([{ data: { ticks: 1 } }]);
  expect(opened).toBe(1);
  await until(() => open === 0);
  // The next subscription connects again.
  expect(await tick(upstream)).toEqual([{ data: { ticks: 1 } }]);
  expect(opened).toBe(2);
  await upstream.close();
});

it('subscribes at the address a reloaded supergraph moved the subgraph to, leaving those on the old address there until they end', async () => {
  // The subgraph's new instance, a server of its own.
  const moved = http.createServer();
  const movedSockets = new WebSocketServer({ server: moved, path: '/graphql' });
  let openAtNew = 0;
  movedSockets.on('connection', (socket) => {
    openAtNew += 1;
    socket.on('close', () => (openAtNew -= 1));
  });
  useServer({ schema, roots }, movedSockets);
  await new Promise<void>((resolve) => moved.listen(0, '127.0.0.1', resolve));
  let address = url;
  const upstream = new UpstreamSubscriptions({
    urlOf: () => address,
    assertion: async () => 'assertion',
    answerTimeoutMs: 5_000,
    logger: createLogger('test', 'silent'),
  });
  try {
    let oldEnded: unknown;
    const endOld = upstream.subscribe(
      { subgraph: 'clock', query: 'subscription { never }', variables: {}, headers: {} },
      { next: () => undefined, error: (error) => (oldEnded = error), complete: () => (oldEnded = 'completed') },
    );
    await until(() => subscribed === 1);
    address = `http://127.0.0.1:${(moved.address() as AddressInfo).port}/graphql`;
    // The next goes to the new address: it went on to the old one while that connection was open.
    expect(await tick(upstream)).toEqual([{ data: { ticks: 1 } }]);
    expect({ subscribedAtOld: subscribed, openAtNew, oldEnded }).toEqual({ subscribedAtOld: 1, openAtNew: 1, oldEnded: undefined });
    // The old connection closes with its last subscription.
    endOld();
    await until(() => open === 0);
  } finally {
    await upstream.close();
    for (const socket of movedSockets.clients) socket.terminate();
    await new Promise((resolve) => movedSockets.close(resolve));
    await new Promise((resolve) => moved.close(resolve));
  }
});

it('makes a connection the subgraph closed while idle again only for the next subscription', async () => {
  const upstream = upstreams({ idleCloseMs: 60_000 });
  await tick(upstream);
  // Code 1000, as a proxy in between might close it: graphql-ws alone reconnected at once, again and again.
  for (const socket of sockets.clients) socket.close(1000, 'Normal Closure');
  await until(() => open === 0);
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(opened).toBe(1);
  expect(await tick(upstream)).toEqual([{ data: { ticks: 1 } }]);
  expect(opened).toBe(2);
  await upstream.close();
});

it('ends the subscriptions on a connection the subgraph closed with an error, whatever the code, rather than subscribing them again', async () => {
  const upstream = upstreams();
  let ended: unknown;
  upstream.subscribe(
    { subgraph: 'clock', query: 'subscription { never }', variables: {}, headers: {} },
    { next: () => (ended = 'an event'), error: (error) => (ended = error), complete: () => (ended = 'completed') },
  );
  await until(() => subscribed === 1);
  for (const socket of sockets.clients) socket.close(1000, 'Normal Closure');
  await until(() => ended !== undefined, 2_000);
  expect(ended).toMatchObject({ name: 'UpstreamClosed', message: 'the connection closed (1000: Normal Closure)' });
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(opened).toBe(1);
  await upstream.close();
});

it('leaves nothing scheduled once closed, so that a process embedding the gateway can exit', async () => {
  const upstream = upstreams();
  const timers = watchTimers();
  try {
    await tick(upstream);
    await upstream.close();
    // The connection's timers go as it closes; graphql-ws's own lazy close kept a 5 s one past its client's dispose().
    await until(() => timers.pending() === 0, 2_000);
  } finally {
    timers.stop();
  }
});

it('closes while a connection to a subgraph that is down is being made', async () => {
  // A port nothing listens on.
  const downUrl = `http://127.0.0.1:${await freePort()}/graphql`;
  const upstream = upstreams({ at: downUrl });
  const ended = new Promise((resolve) =>
    upstream.subscribe(
      { subgraph: 'down', query: 'subscription { ticks }', variables: {}, headers: {} },
      { next: () => undefined, error: resolve, complete: () => resolve('complete') },
    ),
  );
  await expect(upstream.close()).resolves.toBeUndefined();
  await ended;
});

it('fails the subscriptions waiting on a subgraph that accepts the connection and then answers nothing, and closes all the same', async () => {
  // A WebSocket server that never acknowledges graphql-ws's connection_init, as a frozen subgraph.
  const silent = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => silent.once('listening', resolve));
  const silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/graphql`;
  const upstream = upstreams({ at: silentUrl, answerTimeoutMs: 300 });
  try {
    expect(await failsThenClosesSoon(upstream)).toMatchObject({ name: 'UpstreamClosed', message: expect.stringContaining('acknowledgement timeout') });
  } finally {
    for (const socket of silent.clients) socket.terminate();
    await new Promise((resolve) => silent.close(resolve));
  }
});

it('fails the subscriptions waiting on a subgraph that accepts the TCP connection and never answers the upgrade (a frozen process), and closes all the same', async () => {
  // The kernel accepts connections for a stopped process: nothing answers the HTTP upgrade. graphql-ws
  // times its acknowledgement only once the socket opens, so this waited for ever, and so did a stop.
  const held: net.Socket[] = [];
  const frozen = net.createServer((socket) => void held.push(socket));
  await new Promise<void>((resolve) => frozen.listen(0, '127.0.0.1', resolve));
  const frozenUrl = `http://127.0.0.1:${(frozen.address() as AddressInfo).port}/graphql`;
  const upstream = upstreams({ at: frozenUrl, answerTimeoutMs: 300 });
  try {
    expect(await failsThenClosesSoon(upstream)).toMatchObject({ name: 'UpstreamClosed' });
  } finally {
    for (const socket of held) socket.destroy();
    frozen.close();
  }
});

it('fails the subscriptions on a connection whose subgraph stops answering its pings (frozen, or cut off by the network)', async () => {
  // A subgraph that accepts the connection and the subscription, and then answers nothing more.
  const mute = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => 'graphql-transport-ws' });
  mute.on('connection', (socket) =>
    socket.on('message', (data: Buffer) => {
      if ((JSON.parse(data.toString()) as { type: string }).type === 'connection_init') socket.send(JSON.stringify({ type: 'connection_ack' }));
    }),
  );
  await new Promise((resolve) => mute.once('listening', resolve));
  const upstream = upstreams({ at: `http://127.0.0.1:${(mute.address() as AddressInfo).port}/graphql`, pingEveryMs: 200, answerTimeoutMs: 300 });
  try {
    expect(await firstEnding(upstream, 'mute', 'subscription { never }', 3_000)).toMatchObject({ name: 'UpstreamClosed' });
  } finally {
    await upstream.close();
    for (const socket of mute.clients) socket.terminate();
    await new Promise((resolve) => mute.close(resolve));
  }
});
