import http from 'node:http';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import express from 'express';
import { UnsecuredJWT } from 'jose';
import WebSocket from 'ws';
import { GraphQLError, type ExecutionResult } from 'graphql';
import { Registry } from 'prom-client';
import { REPOSITORY_ROOT, ServiceMetrics, compileTrustProxy, createLogger, pollUntil, requestIdOf } from '@fedstack/runtime';
import { operationLimits } from '../limits';
import { PersistedDocuments } from '../persisted';
import { SubscriptionAdmission } from './admission';
import type { SubscriptionRequest, SubscriptionResults } from './executor';
import { subscriptionMetrics } from './metrics';
import { SubscriptionPlanner } from './planner';
import { httpStreamingTransports } from './http-streams';
import { webSocketTransport, type TransportDeps } from './transports';

const SUPERGRAPH = readFileSync(path.join(REPOSITORY_ROOT, 'supergraph.graphql'), 'utf8');
const IDENTITY_MS = 300;

/** Results that never come, counting the subscriptions started and those ended. */
function waitingForever() {
  const counts = { started: 0, ended: 0, requestIds: [] as string[] };
  const subscribe = (request: SubscriptionRequest): SubscriptionResults => {
    counts.started += 1;
    counts.requestIds.push(request.context.requestId);
    let finish: (() => void) | undefined;
    const done = { done: true as const, value: undefined };
    const results: SubscriptionResults = {
      [Symbol.asyncIterator]: () => results,
      next: () => new Promise<IteratorResult<ExecutionResult>>((resolve) => (finish = () => resolve(done))),
      return: () => {
        counts.ended += 1;
        request.release?.();
        finish?.();
        return Promise.resolve(done);
      },
      throw: () => results.return(),
    };
    return results;
  };
  return { counts, subscribe };
}

/**
 * The transports on a server of their own (TRUST_PROXY=loopback), with `subscribe` behind them and auth
 * answering slowly; `identified` holds the client address each identity request was made for.
 */
async function streamingServer(subscribe: (request: SubscriptionRequest) => SubscriptionResults, maxBufferedBytes = 1_000_000) {
  const identified: (string | undefined)[] = [];
  const identifiedUnder: string[] = [];
  const planner = new SubscriptionPlanner();
  planner.load(SUPERGRAPH);
  const limits = operationLimits({ maxDepth: 12, maxAliases: 30, maxDirectives: 20, maxTokens: 3000, maxCost: 20_000 });
  limits.supergraphLoaded(SUPERGRAPH);
  const logger = createLogger('test', 'silent');
  const admission = new SubscriptionAdmission({
    execute: (_request, context) => {
      identified.push((context as { clientAddress?: string }).clientAddress);
      identifiedUnder.push((context as { requestId: string }).requestId);
      // What auth answers for a few tokens: its outage, a suspended account, a token it does not know.
      const answers: Record<string, ExecutionResult> = {
        'Bearer auth-down': { errors: [new GraphQLError('The auth subgraph could not be reached', { extensions: { code: 'SUBGRAPH_UNAVAILABLE' } })] },
        'Bearer suspended': { errors: [new GraphQLError('This account is suspended', { extensions: { code: 'FORBIDDEN' } })] },
        'Bearer unknown': { data: { me: null } },
      };
      const answer = answers[String((context as { authorization?: string }).authorization)] ?? { data: { me: { id: 'u1', role: 'USER' } } };
      return new Promise((resolve) => setTimeout(() => resolve(answer), IDENTITY_MS));
    },
    planner,
    limits,
    documents: new PersistedDocuments({ mode: 'off', files: [], pollMs: 60_000 }, new ServiceMetrics({ service: 'gateway' }), logger),
    maxTokens: 3000,
    maxUpstreamBytes: 100_000,
    maxPerConnection: 5,
    maxPerUser: 5,
    maxConnectionsPerUser: 2,
    hideSuggestions: true,
  });
  const registry = new Registry();
  const deps: TransportDeps = {
    admission,
    subscribe,
    metrics: subscriptionMetrics(registry),
    logger,
    production: true,
    limits: { maxPayloadBytes: 100_000, maxBufferedBytes, keepAliveMs: 60_000, initTimeoutMs: 3000 },
    clientAddress: (request) => (request as Partial<express.Request>).ip ?? request.socket.remoteAddress,
    trustProxy: compileTrustProxy('loopback'),
  };
  const streaming = httpStreamingTransports(deps, 100_000);
  const app = express().set('trust proxy', 'loopback');
  // As runtime's operational routes give every request an id, before the gateway's routes.
  app.use((request, response, next) => {
    response.locals.requestId = requestIdOf(request.headers['x-request-id']);
    next();
  });
  const server = http.createServer(app.use(streaming));
  const webSocket = webSocketTransport(server, deps);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    registry,
    identified,
    identifiedUnder,
    url: `ws://127.0.0.1:${port}/graphql`,
    /** Asks for a subscription to `paymentUpdated` (or another operation), as a client with `accept` does. */
    request(accept: string, headers: Record<string, string> = {}, query = 'subscription { paymentUpdated { id } }'): http.ClientRequest {
      const request = http.request({
        host: '127.0.0.1',
        port,
        path: '/graphql',
        method: 'POST',
        headers: { 'content-type': 'application/json', accept, authorization: 'Bearer token', ...headers },
      });
      request.on('error', () => undefined);
      request.end(JSON.stringify({ query }));
      return request;
    },
    /** Ends every HTTP stream, as the gateway's stop does. */
    endStreams: () => streaming.close(),
    async close() {
      await Promise.all([webSocket.close(), streaming.close()]);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The whole body of the answer to `request`, once it has ended. */
function wholeBody(request: http.ClientRequest): Promise<string> {
  return new Promise((resolve) =>
    request.on('response', (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve(body));
    }),
  );
}

const TRANSPORTS = [
  ['multipart HTTP', 'multipart/mixed;subscriptionSpec="1.0"', 'multipart'],
  ['Server-Sent Events', 'text/event-stream', 'sse'],
] as const;

/**
 * A graphql-ws connection that sends `connection_init` with `token` once open: whether it was
 * acknowledged (false if it closed first), and its close code.
 */
function connection(url: string, token = 'token', headers: Record<string, string> = {}) {
  const socket = new WebSocket(url, 'graphql-transport-ws', { headers });
  const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
  const acknowledged = new Promise<boolean>((resolve) => {
    socket.on('message', (data: Buffer) => resolve((JSON.parse(data.toString()) as { type: string }).type === 'connection_ack'));
    void closed.then(() => resolve(false));
  });
  socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })));
  return { socket, acknowledged, closed };
}

/** Runs `work` on a server whose subscriptions wait for ever (`counts` of them started and ended), closed afterwards. */
async function onIdleServer(
  work: (server: Awaited<ReturnType<typeof streamingServer>>, counts: ReturnType<typeof waitingForever>['counts']) => Promise<void>,
): Promise<void> {
  const { counts, subscribe } = waitingForever();
  const server = await streamingServer(subscribe);
  try {
    await work(server, counts);
  } finally {
    await server.close();
  }
}

describe('queries over a WebSocket connection', () => {
  it('run as many at once as the connection may hold subscriptions; more are refused at once (20,000 ended a gateway worker)', async () => {
    await onIdleServer(async (server) => {
      const { socket, acknowledged } = connection(server.url);
      expect(await acknowledged).toBe(true);
      const answers = new Map<string, { data?: unknown; errors?: { extensions?: { code?: string } }[] }>();
      socket.on('message', (data: Buffer) => {
        const message = JSON.parse(data.toString()) as { type: string; id: string; payload: { data?: unknown; errors?: { extensions?: { code?: string } }[] } };
        if (message.type === 'next') answers.set(message.id, message.payload);
      });
      // Each waits IDENTITY_MS for its answer (the server's execute); the connection may hold 5.
      for (let id = 1; id <= 8; id += 1) socket.send(JSON.stringify({ type: 'subscribe', id: String(id), payload: { query: '{ me { id } }' } }));
      await pollUntil('every answer', async () => answers.size === 8, { timeoutMs: 5000, intervalMs: 20 });
      const codes = [...answers.values()].map((answer) => answer.errors?.[0]?.extensions?.code ?? 'answered');
      expect(codes.sort()).toEqual(['RATE_LIMITED', 'RATE_LIMITED', 'RATE_LIMITED', 'answered', 'answered', 'answered', 'answered', 'answered']);
      // With the wait the README promises every RATE_LIMITED (it had none).
      const refused = [...answers.values()].find((answer) => answer.errors)?.errors?.[0]?.extensions;
      expect(refused).toEqual({ code: 'RATE_LIMITED', limit: 'connection', max: 5, retryAfterSeconds: 1 });
      socket.close();
    });
  });
});

describe('subscriptions over HTTP streams', () => {
  it.each(TRANSPORTS)('end one whose client went away while it was being identified (%s)', async (_, accept) => {
    await onIdleServer(async (server, counts) => {
      const request = server.request(accept);
      // Gone while auth is asked who it is (it answers after IDENTITY_MS).
      await pollUntil('identifying', async () => server.identified.length === 1, { timeoutMs: 3000, intervalMs: 5 });
      request.destroy();
      await pollUntil('the subscription started', async () => counts.started === 1, { timeoutMs: 3000, intervalMs: 20 });
      await pollUntil('the subscription ended', async () => counts.ended === 1, { timeoutMs: 1000, intervalMs: 20 });
    });
  });

  it.each(TRANSPORTS)('cut off a client that stops reading, holding no more than the buffer allows (%s)', async (_, accept, transport) => {
    // Events of 10 kB as fast as they are taken, up to 30 MB of them: far more than the sockets between
    // here and the client hold once it stops reading.
    const SUPPLY = 3000;
    let taken = 0;
    let ended = false;
    const event: ExecutionResult = { data: { paymentUpdated: { id: 'x'.repeat(10_000) } } };
    const subscribe = (request: SubscriptionRequest): SubscriptionResults => {
      const results: SubscriptionResults = {
        [Symbol.asyncIterator]: () => results,
        next: () =>
          new Promise((resolve) => {
            if (ended || taken >= SUPPLY) return; // no more events, ever
            taken += 1;
            setImmediate(() => resolve({ done: false, value: event }));
          }),
        return: () => {
          ended = true;
          request.release?.();
          return Promise.resolve({ done: true, value: undefined });
        },
        throw: () => results.return(),
      };
      return results;
    };
    const server = await streamingServer(subscribe, 200_000);
    try {
      // The client reads the response's head and then nothing.
      server.request(accept).on('response', (response) => response.pause());
      await pollUntil('the subscription ended', async () => ended, { timeoutMs: 15_000, intervalMs: 50 });
      expect(taken).toBeLessThan(SUPPLY);
      expect(await server.registry.getSingleMetricAsString('subscription_slow_consumers_total')).toContain(`transport="${transport}"} 1`);
    } finally {
      await server.close();
    }
  });
});

describe('a gateway stopping', () => {
  it.each(TRANSPORTS)(
    "tells each stream's client so, then ends the stream as its protocol does: they were cut short, as by a broken network (%s)",
    async (_, accept) => {
      await onIdleServer(async (server, counts) => {
        const answer = wholeBody(server.request(accept));
        await pollUntil('the subscription started', async () => counts.started === 1, { timeoutMs: 3000, intervalMs: 20 });
        await server.endStreams();
        const body = await answer;
        expect(body).toContain('{"errors":[{"message":"The gateway is stopping: subscribe again","extensions":{"code":"SUBGRAPH_UNAVAILABLE"}}]}');
        expect(body.trimEnd()).toMatch(accept.startsWith('text/event-stream') ? /event: complete\ndata:$/ : /--graphql--$/);
        await pollUntil('the subscription ended', async () => counts.ended >= 1, { timeoutMs: 1000, intervalMs: 20 });
      });
    },
  );

  it.each(TRANSPORTS)(
    'tells one being identified as it stops so, and starts no subscription for it: it started after the stop and stayed open (%s)',
    async (_, accept) => {
      await onIdleServer(async (server, counts) => {
        const answer = wholeBody(server.request(accept));
        // Stopped while auth is asked who it is (it answers after IDENTITY_MS).
        await pollUntil('identifying', async () => server.identified.length === 1, { timeoutMs: 3000, intervalMs: 5 });
        await server.endStreams();
        const body = await answer;
        expect(body).toContain('The gateway is stopping: subscribe again');
        expect(counts.started).toBe(0);
      });
    },
  );

  it.each(
    TRANSPORTS.flatMap(([name, accept]) => [
      [`${name}, a query`, accept, '{ me { id } }'],
      [`${name}, a mutation`, accept, 'mutation { reinstateUser(userId: "u2") { id } }'],
    ]),
  )('answers an operation that runs as it stops with its own answer, not the stopping error (%s)', async (_, accept, query) => {
    await onIdleServer(async (server) => {
      const answer = wholeBody(server.request(accept, {}, query));
      // Identified, and running (the server's execute answers both after IDENTITY_MS).
      await pollUntil('running', async () => server.identified.length === 2, { timeoutMs: 3000, intervalMs: 5 });
      await server.endStreams();
      const body = await answer;
      expect(body).toContain('"me":{"id":"u1"');
      expect(body).not.toContain('The gateway is stopping');
    });
  });

  it.each(TRANSPORTS)('ends the streams, and writes nothing after, however many events still come (%s)', async (_, accept) => {
    // An event of 100 kB every 10 ms, for as long as they are asked for.
    let ended = false;
    let produced = 0;
    const event = { data: { paymentUpdated: { id: 'x'.repeat(100_000) } } };
    const subscribe = (request: SubscriptionRequest): SubscriptionResults => {
      const results: SubscriptionResults = {
        [Symbol.asyncIterator]: () => results,
        next: () =>
          new Promise((resolve) =>
            setTimeout(() => {
              if (!ended) produced += 1;
              resolve(ended ? { done: true, value: undefined } : { done: false, value: event });
            }, 10),
          ),
        return: () => {
          ended = true;
          request.release?.();
          return Promise.resolve({ done: true, value: undefined });
        },
        throw: () => results.return(),
      };
      return results;
    };
    // Room for the backlog (64 MB): the client is behind, not cut off.
    const server = await streamingServer(subscribe, 64 * 1024 * 1024);
    try {
      // A client that is behind when the gateway stops (the sockets between full): its stream cannot
      // finish, and events keep coming.
      server.request(accept).on('response', (response) => response.pause());
      // 15 MB: more than the sockets between hold, so the end cannot be flushed.
      await pollUntil('a backlog', async () => produced >= 150, { timeoutMs: 15_000, intervalMs: 20 });
      await server.endStreams();
      // The next event ends it; had it been written after the end, that would have thrown, uncaught.
      await pollUntil('the subscription ended', async () => ended, { timeoutMs: 3000, intervalMs: 10 });
    } finally {
      await server.close();
    }
  });
});

describe('the client address a subscriber is identified for', () => {
  it.each([
    ['WebSocket', 'websocket'],
    ['Server-Sent Events', 'text/event-stream'],
  ])('is the one a trusted proxy reports in X-Forwarded-For (%s)', async (_, how) => {
    await onIdleServer(async (server, counts) => {
      const headers = { 'x-forwarded-for': '203.0.113.7' };
      if (how === 'websocket') {
        const { socket } = connection(server.url, 'token', headers);
        await pollUntil('identified', async () => server.identified.length === 1, { timeoutMs: 3000, intervalMs: 20 });
        socket.terminate();
      } else {
        server.request(how, headers);
        await pollUntil('the subscription started', async () => counts.started === 1, { timeoutMs: 3000, intervalMs: 20 });
      }
      expect(server.identified).toEqual(['203.0.113.7']);
    });
  });
});

describe('the request id of a subscription over HTTP', () => {
  it.each(TRANSPORTS)("is the client's x-request-id, for the token check and every subgraph call (%s: each had an id of its own)", async (_, accept) => {
    await onIdleServer(async (server, counts) => {
      server.request(accept, { 'x-request-id': 'client-sub-1' });
      await pollUntil('the subscription started', async () => counts.started === 1, { timeoutMs: 3000, intervalMs: 20 });
      expect({ identity: server.identifiedUnder, subscription: counts.requestIds }).toEqual({ identity: ['client-sub-1'], subscription: ['client-sub-1'] });
    });
  });
});

describe('WebSocket connections', () => {
  it("closes one over its user's connections with 4429, and takes one again once another has closed", async () => {
    await onIdleServer(async (server) => {
      const connect = async () => {
        const opened = connection(server.url);
        await opened.acknowledged;
        return opened;
      };
      // The harness's auth answers the same user for every token; the limit is 2.
      const [first, second] = [await connect(), await connect()];
      const third = await connect();
      expect(await third.closed).toBe(4429);
      first.socket.close();
      await first.closed;
      const fourth = await connect();
      expect(fourth.socket.readyState).toBe(WebSocket.OPEN);
      second.socket.close();
      fourth.socket.close();
    });
  });

  it('closes by why auth did not let a token in: 4401 to renew it, 4403 for a refusal that stands, 1013 (try again) when auth could not be asked (each was 4403, after which clients gave up)', async () => {
    await onIdleServer(async (server) => {
      const closes = await Promise.all(
        ['unknown', 'suspended', 'auth-down'].map(async (token) => ({ token, closed: await connection(server.url, token).closed })),
      );
      expect(closes).toEqual([
        { token: 'unknown', closed: 4401 },
        { token: 'suspended', closed: 4403 },
        { token: 'auth-down', closed: 1013 },
      ]);
    });
  });

  it('refuses (4401), without asking auth, an authorization that no HTTP header could carry, or no longer than auth takes', async () => {
    await onIdleServer(async (server) => {
      // JSON carries what a header cannot; sent on to auth, such a value failed the gateway's own call (an internal error, logged and counted).
      // Nor one longer than auth takes (its headers are bounded at 16 KiB): refused there, it closed 1013 (try again) as if auth were down.
      for (const token of ['\u20ac', 'a\r\nx-role: ADMIN', 'a\u0000b', 'a'.repeat(20_000)]) {
        const { closed } = connection(server.url, token);
        expect({ token: token.slice(0, 20), closed: await closed }).toEqual({ token: token.slice(0, 20), closed: 4401 });
      }
      expect(server.identified).toEqual([]);
    });
  });

  it('closes one with 4401 when its access token expires', async () => {
    await onIdleServer(async (server) => {
      // The harness's auth accepts any token; this one says it expires in a second.
      const token = new UnsecuredJWT({ sub: 'u1' }).setExpirationTime(Math.floor(Date.now() / 1000) + 1).encode();
      const { acknowledged, closed } = connection(server.url, token);
      await acknowledged;
      expect(await closed).toBe(4401);
    });
  });

  it('takes no place for a connection that went while its token was being checked', async () => {
    await onIdleServer(async (server) => {
      // Two connections (the limit) gone before auth answers who they are.
      for (let gone = 0; gone < 2; gone += 1) {
        const { socket } = connection(server.url);
        await pollUntil('identifying', async () => server.identified.length === gone + 1, { timeoutMs: 3000, intervalMs: 10 });
        socket.terminate();
      }
      await new Promise((resolve) => setTimeout(resolve, IDENTITY_MS * 2));
      const { socket, acknowledged } = connection(server.url);
      expect(await acknowledged).toBe(true);
      socket.close();
    });
  });
});
