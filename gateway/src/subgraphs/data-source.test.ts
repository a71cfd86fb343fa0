import { createServer, type IncomingHttpHeaders } from 'node:http';
import { Writable } from 'node:stream';
import { GraphQLDataSourceRequestKind } from '@apollo/gateway/dist/datasources/types';
import { Registry } from 'prom-client';
import { WAL_POSITIONS_HEADER, createLogger, type Logger } from '@fedstack/runtime';
import type { BreakerSettings } from './breaker';
import { SubgraphDataSource } from './data-source';
import { queryDeduplication } from './dedupe';
import type { GatewayContext } from './headers';
import { subgraphLinks } from './links';

/**
 * A subgraph stand-in on a real port: answers `answer` after `delayMs`, recording what it was sent.
 * The options can be changed while it runs (a subgraph that freezes, then recovers).
 */
async function fakeSubgraph(options: { delayMs?: number; status?: number; answer?: unknown; headers?: Record<string, string> } = {}) {
  const received: IncomingHttpHeaders[] = [];
  const answering = new Set<NodeJS.Timeout>();
  const server = createServer((req, res) => {
    received.push(req.headers);
    req.resume();
    const timer = setTimeout(() => {
      answering.delete(timer);
      res
        .writeHead(options.status ?? 200, { 'content-type': 'application/json', ...options.headers })
        .end(JSON.stringify(options.answer ?? { data: { ok: true } }));
    }, options.delayMs ?? 0);
    answering.add(timer);
  });
  server.keepAliveTimeout = 100;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/graphql`;
  return {
    url,
    received,
    options,
    close: () =>
      new Promise<void>((resolve) => {
        answering.forEach((timer) => clearTimeout(timer));
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const assertion = async () => 'the-gateway-assertion';
const NEVER_OPENS: BreakerSettings = { minCalls: 100_000, errorPercent: 100, resetMs: 1000 };

/** A logger, and a promise for the first line it writes whose message is `message`. */
function watchedLogger(message: string): { logger: Logger; logged: Promise<void> } {
  let seen: () => void = () => undefined;
  const logged = new Promise<void>((resolve) => {
    seen = resolve;
  });
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (
        chunk
          .toString()
          .split('\n')
          .some((line) => line && (JSON.parse(line) as { msg?: string }).msg === message)
      )
        seen();
      done();
    },
  });
  return { logger: createLogger('gateway', 'info', destination), logged };
}

/** Links as the gateway makes them (pool, timeout, breaker, metrics), closed after each test. */
const opened: ReturnType<typeof subgraphLinks>[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((links) => links.close()));
});
function linksFor(timeoutMs = 2000, breaker = NEVER_OPENS, logger: Logger = createLogger('gateway', 'silent')) {
  const registry = new Registry();
  const links = subgraphLinks({ connections: 8, timeoutMs, maxResponseBytes: 1_048_576, breaker }, registry, logger);
  opened.push(links);
  return { registry, links };
}

function dataSource(url: string, timeoutMs = 2000, links = linksFor(timeoutMs).links) {
  return new SubgraphDataSource({ name: 'profile', url, timeoutMs, fetcher: links.fetcherFor('profile'), assertion });
}

function send(
  url: string,
  query: string,
  options: { timeoutMs?: number; authorization?: string; requestId?: string; userAgent?: string } = {},
  source?: SubgraphDataSource,
) {
  const called = source ?? dataSource(url, options.timeoutMs);
  return called.process({
    kind: GraphQLDataSourceRequestKind.HEALTH_CHECK,
    request: { query, http: { method: 'POST', url: '', headers: new Headers() } },
    context: {
      requestId: options.requestId ?? 'request-1',
      authorization: options.authorization ?? 'Bearer a',
      clientAddress: '203.0.113.9',
      userAgent: options.userAgent ?? 'TestApp/1.0',
    },
  });
}

describe('calls to a subgraph', () => {
  const servers: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()));
  });
  const subgraph = async (options?: Parameters<typeof fakeSubgraph>[0]) => {
    const fake = await fakeSubgraph(options);
    servers.push(fake);
    return fake;
  };

  it("passes on the caller's token, request id, address and user agent, and the subgraph's data", async () => {
    const fake = await subgraph();
    expect((await send(fake.url, '{ ok }', { authorization: 'Bearer xyz', requestId: 'abc-1', userAgent: 'MyApp/2.3' })).data).toEqual({ ok: true });
    expect(fake.received[0]).toMatchObject({
      authorization: 'Bearer xyz',
      'x-request-id': 'abc-1',
      'x-forwarded-for': '203.0.113.9',
      'user-agent': 'MyApp/2.3',
    });
  });

  it("carries the WAL positions a subgraph's answer gives to the request's later calls, each to its own service, even in a context made without any", async () => {
    // profile answers its own position and, as admin does for auth, another service's.
    const fake = await subgraph({ headers: { [WAL_POSITIONS_HEADER]: 'profile=0/10, auth=0/20' } });
    const source = dataSource(fake.url);
    // As a subscription's or a WebSocket query's context is made: no positions.
    const context: GatewayContext = { requestId: 'ws-1', authorization: 'Bearer a', clientAddress: undefined, userAgent: undefined };
    const call = () =>
      source.process({
        kind: GraphQLDataSourceRequestKind.INCOMING_OPERATION,
        request: { query: '{ ok }', http: { method: 'POST', url: '', headers: new Headers() } },
        context,
        incomingRequestContext: {} as never,
      });
    await call();
    await call();
    expect(fake.received.map((headers) => headers[WAL_POSITIONS_HEADER])).toEqual([undefined, 'profile=0/10']);
    expect(context.positions?.toHeader()).toBe('profile=0/10, auth=0/20');
  });

  it('shares one call among identical queries in flight, whatever their request ids and user agents, through a deduplicated link', async () => {
    const fake = await subgraph({ delayMs: 100 });
    const fetcher = queryDeduplication()(linksFor(2000).links.fetcherFor('profile'));
    const source = new SubgraphDataSource({ name: 'profile', url: fake.url, timeoutMs: 2000, fetcher, assertion });
    const answers = await Promise.all([1, 2, 3].map((n) => send(fake.url, '{ ok }', { requestId: `r-${n}`, userAgent: `App/${n}` }, source)));
    expect(answers.map((answer) => answer.data)).toEqual(Array(3).fill({ ok: true }));
    expect(fake.received).toHaveLength(1);
  });

  it("passes on a subgraph's own error as it wrote it, naming the subgraph", async () => {
    const fake = await subgraph({
      status: 400,
      answer: { errors: [{ message: 'Variable "$first" got invalid value -1', extensions: { code: 'BAD_USER_INPUT' } }] },
    });
    await expect(send(fake.url, '{ ok }')).rejects.toMatchObject({
      message: 'Variable "$first" got invalid value -1',
      extensions: { code: 'BAD_USER_INPUT', serviceName: 'profile' },
    });
  });

  it('reports an answer longer than SUBGRAPH_MAX_RESPONSE_BYTES as the subgraph being unavailable, naming the setting', async () => {
    const fake = await subgraph({ answer: { data: { ok: 'x'.repeat(2_000_000) } } });
    await expect(send(fake.url, '{ ok }')).rejects.toMatchObject({
      message: 'The profile subgraph answered more than SUBGRAPH_MAX_RESPONSE_BYTES',
      extensions: { code: 'SUBGRAPH_UNAVAILABLE', serviceName: 'profile' },
    });
  });

  it('reports an HTTP failure without GraphQL errors as the subgraph being unavailable, and counts it as a failed call', async () => {
    const fake = await subgraph({ status: 502, answer: 'bad gateway' });
    const { registry, links } = linksFor();
    await expect(send(fake.url, '{ ok }', {}, dataSource(fake.url, 2000, links))).rejects.toMatchObject({
      message: 'The profile subgraph answered HTTP 502',
      extensions: { code: 'SUBGRAPH_UNAVAILABLE', serviceName: 'profile' },
    });
    const metrics = await registry.getSingleMetricAsString('subgraph_fetch_duration_seconds');
    expect(metrics).toMatch(/subgraph_fetch_duration_seconds_count\{subgraph="profile",outcome="error"\} 1/);
    expect(metrics).not.toMatch(/outcome="ok"/);
  });

  it('reports a subgraph that does not answer in time, or cannot be reached, by name', async () => {
    const fake = await subgraph({ delayMs: 300 });
    const { registry, links } = linksFor(30);
    await expect(send(fake.url, '{ ok }', { timeoutMs: 30 }, dataSource(fake.url, 30, links))).rejects.toMatchObject({
      message: 'The profile subgraph did not answer within 30 ms',
      extensions: { code: 'SUBGRAPH_UNAVAILABLE' },
    });
    await expect(send('http://127.0.0.1:1/graphql', '{ ok }', {}, dataSource('http://127.0.0.1:1/graphql', 30, links))).rejects.toMatchObject({
      message: 'The profile subgraph could not be reached',
      // Why, for whoever logs or formats the error.
      originalError: expect.objectContaining({ code: 'ECONNREFUSED' }),
    });
    const metrics = await registry.getSingleMetricAsString('subgraph_fetch_duration_seconds');
    expect(metrics).toMatch(/subgraph_fetch_duration_seconds_count\{subgraph="profile",outcome="timeout"\} 1/);
    expect(metrics).toMatch(/subgraph_fetch_duration_seconds_count\{subgraph="profile",outcome="error"\} 1/);
  });

  it('stops calling a subgraph that keeps failing, answering at once, and calls it again once it answers', async () => {
    // Frozen: it answers nothing within the timeout (long enough for a busy machine to answer the trial).
    const fake = await subgraph({ delayMs: 5000 });
    const halfOpen = watchedLogger('subgraph called again: the next call is a trial (circuit half open)');
    const { registry, links } = linksFor(200, { minCalls: 3, errorPercent: 50, resetMs: 300 }, halfOpen.logger);
    const source = dataSource(fake.url, 200, links);
    for (let call = 0; call < 3; call += 1) {
      await expect(send(fake.url, `{ ok${call} }`, {}, source)).rejects.toMatchObject({ message: 'The profile subgraph did not answer within 200 ms' });
    }
    expect(await registry.getSingleMetricAsString('subgraph_circuit_open')).toMatch(/subgraph_circuit_open\{subgraph="profile"\} 1/);
    // Open: refused without calling the subgraph.
    const reached = fake.received.length;
    for (let call = 0; call < 5; call += 1) {
      await expect(send(fake.url, `{ open${call} }`, {}, source)).rejects.toMatchObject({
        message: 'The profile subgraph is failing and is not being called for a few seconds (circuit open)',
        extensions: { code: 'SUBGRAPH_UNAVAILABLE', serviceName: 'profile' },
      });
    }
    expect(fake.received).toHaveLength(reached);
    // The subgraph answers again; once the reset time has passed, one trial call goes through and closes the circuit.
    fake.options.delayMs = 0;
    await halfOpen.logged;
    expect((await send(fake.url, '{ trial }', {}, source)).data).toEqual({ ok: true });
    expect((await send(fake.url, '{ after }', {}, source)).data).toEqual({ ok: true });
    expect(await registry.getSingleMetricAsString('subgraph_circuit_open')).toMatch(/subgraph_circuit_open\{subgraph="profile"\} 0/);
  });

  it("counts a subgraph's 5xx as a failure but its GraphQL errors as answers", async () => {
    const failing = await subgraph({ status: 503, answer: 'unavailable' });
    const failingLinks = linksFor(2000, { minCalls: 2, errorPercent: 50, resetMs: 10_000 }).links;
    for (let call = 0; call < 2; call += 1) {
      await expect(send(failing.url, `{ a${call} }`, {}, dataSource(failing.url, 2000, failingLinks))).rejects.toMatchObject({
        message: 'The profile subgraph answered HTTP 503',
      });
    }
    await expect(send(failing.url, '{ b }', {}, dataSource(failing.url, 2000, failingLinks))).rejects.toMatchObject({ message: /circuit open/ });

    const refusing = await subgraph({ status: 400, answer: { errors: [{ message: 'bad input', extensions: { code: 'BAD_USER_INPUT' } }] } });
    const refusingLinks = linksFor(2000, { minCalls: 2, errorPercent: 50, resetMs: 10_000 }).links;
    for (let call = 0; call < 4; call += 1) {
      await expect(send(refusing.url, `{ c${call} }`, {}, dataSource(refusing.url, 2000, refusingLinks))).rejects.toMatchObject({ message: 'bad input' });
    }
  });
});
