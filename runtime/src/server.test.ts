import net from 'node:net';
import { Writable } from 'node:stream';
import { GraphQLObjectType, GraphQLSchema, GraphQLString } from 'graphql';
import { Gauge } from 'prom-client';
import { loadServerConfig } from './config';
import { AppError, ErrorCode, badUserInput, type ErrorTranslator } from './errors';
import { createGraphQLServer, type GraphQLServer } from './server';

/** A schema with one answer, one client error, one internal error and one slow field (`reached` when it starts). */
function testSchema(release: Promise<void>, reached: () => void): GraphQLSchema {
  return new GraphQLSchema({
    query: new GraphQLObjectType({
      name: 'Query',
      fields: {
        hello: { type: GraphQLString, resolve: () => 'world' },
        refused: {
          type: GraphQLString,
          resolve: () => {
            throw badUserInput('name', 'must be at most 10 characters (got 11)');
          },
        },
        broken: {
          type: GraphQLString,
          resolve: () => {
            throw new Error('connection to 10.0.0.5:5432 refused');
          },
        },
        slow: {
          type: GraphQLString,
          resolve: async () => {
            reached();
            return release.then(() => 'done');
          },
        },
        clientAddress: { type: GraphQLString, resolve: (_root, _args, context: { clientAddress?: string }) => context.clientAddress ?? null },
      },
    }),
  });
}

describe('createGraphQLServer', () => {
  const lines: string[] = [];
  const logDestination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  let releaseSlow: () => void = () => undefined;
  /** Resolves once the slow field of the server started last has started resolving. */
  let slowReached: Promise<void> = Promise.resolve();
  let ready: Error | undefined;
  const servers: GraphQLServer[] = [];

  async function start(env: NodeJS.ProcessEnv, translateError?: ErrorTranslator): Promise<string> {
    const release = new Promise<void>((resolve) => {
      releaseSlow = resolve;
    });
    let reached: () => void = () => undefined;
    slowReached = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const server = await createGraphQLServer({
      name: 'gateway',
      config: loadServerConfig('gateway', { GATEWAY_PORT: '0', LOG_LEVEL: 'info', ...env }),
      apollo: { schema: testSchema(release, () => reached()) },
      context: async ({ req }, base) => ({ ...base, clientAddress: req.ip }),
      checkReady: async () => {
        if (ready) throw ready;
      },
      logDestination,
      ...(translateError ? { translateError } : {}),
    });
    servers.push(server);
    return server.listen();
  }

  const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  afterEach(async () => {
    releaseSlow();
    await Promise.all(servers.splice(0).map((server) => server.stop()));
    ready = undefined;
    lines.length = 0;
  });

  it('answers GraphQL, echoes a well-formed request id and logs the operation under it', async () => {
    const url = await start({});
    const response = await post(url, { query: 'query Greeting { hello }' }, { 'x-request-id': 'client-chosen-1' });
    expect(await response.json()).toEqual({ data: { hello: 'world' } });
    expect(response.headers.get('x-request-id')).toBe('client-chosen-1');
    const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line.msg === 'graphql operation');
    expect(logged).toMatchObject({ requestId: 'client-chosen-1', operationName: 'Greeting', service: 'gateway' });
  });

  it('logs an operation name cut to 200 characters (a client may send 45 kB of one with every request)', async () => {
    const url = await start({});
    const name = `Long${'x'.repeat(45_000)}`;
    await post(url, { query: `query ${name} { hello }` }, { 'x-request-id': 'long-name-1' });
    const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line.msg === 'graphql operation');
    expect(logged).toMatchObject({ requestId: 'long-name-1', operationName: name.slice(0, 200) });
  });

  it('replaces a request id that is not well-formed', async () => {
    const url = await start({});
    const response = await post(url, { query: '{ hello }' }, { 'x-request-id': 'a b;c' });
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('masks internal errors in production but keeps client errors as they are', async () => {
    const url = await start({ NODE_ENV: 'production' });
    const body = (await (await post(url, { query: '{ broken refused }' })).json()) as { errors: { message: string; extensions: Record<string, unknown> }[] };
    const byCode: Record<string, { message: string }> = Object.fromEntries(body.errors.map((error) => [String(error.extensions.code), error]));
    expect(byCode.INTERNAL_SERVER_ERROR?.message).toBe('Internal server error');
    expect(JSON.stringify(body)).not.toContain('10.0.0.5');
    expect(byCode.BAD_USER_INPUT?.message).toBe('name: must be at most 10 characters (got 11)');
    // The real error is in the log for the operator.
    expect(lines.some((line) => line.includes('10.0.0.5'))).toBe(true);
  });

  it('refuses introspection in production unless INTROSPECTION=true', async () => {
    const production = await start({ NODE_ENV: 'production' });
    expect(JSON.stringify(await (await post(production, { query: '{ __schema { queryType { name } } }' })).json())).toContain('GRAPHQL_VALIDATION_FAILED');
    const allowed = await start({ NODE_ENV: 'production', INTROSPECTION: 'true' });
    expect(await (await post(allowed, { query: '{ __schema { queryType { name } } }' })).json()).toEqual({
      data: { __schema: { queryType: { name: 'Query' } } },
    });
  });

  it('answers a body over the limit and malformed JSON as GraphQL errors, not HTML', async () => {
    const url = await start({ MAX_BODY_BYTES: '200' });
    const large = await post(url, { query: `{ hello } # ${'x'.repeat(300)}` });
    expect(large.status).toBe(413);
    expect(await large.json()).toEqual({ errors: [{ message: 'Request body is larger than this server accepts', extensions: { code: 'BAD_REQUEST' } }] });
    const malformed = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":' });
    expect(malformed.status).toBe(400);
    expect(malformed.headers.get('content-type')).toMatch(/^application\/json/);
  });

  it('says it is alive, whether it is ready and why not, and serves its metrics', async () => {
    const url = await start({});
    expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`${url}/readyz`)).json()).toEqual({ status: 'ready' });
    ready = new Error('database unreachable');
    const notReady = await fetch(`${url}/readyz`);
    expect({ status: notReady.status, body: await notReady.json() }).toEqual({ status: 503, body: { status: 'unavailable', reason: 'database unreachable' } });
    await post(url, { query: 'query Greeting { hello }' });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^graphql_requests_total\{operation="Greeting",outcome="ok",service="gateway"\} 1$/m);
  });

  it('answers an error it recognises as what that means to a client, counted under its code and not logged as internal', async () => {
    const unreachable = (error: unknown) => String((error as { originalError?: Error }).originalError?.message).includes('10.0.0.5');
    const url = await start({}, (error) =>
      unreachable(error) ? new AppError(ErrorCode.SUBGRAPH_UNAVAILABLE, 'Try again shortly', { serviceName: 'x' }) : undefined,
    );
    const body = (await (await post(url, { query: 'query Both { broken refused }' })).json()) as {
      errors: { message: string; extensions: Record<string, unknown> }[];
    };
    expect(body.errors.map(({ message, extensions }) => ({ message, extensions }))).toEqual([
      { message: 'Try again shortly', extensions: { code: 'SUBGRAPH_UNAVAILABLE', serviceName: 'x' } },
      { message: 'name: must be at most 10 characters (got 11)', extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) },
    ]);
    expect(lines.some((line) => line.includes('internal error'))).toBe(false);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^graphql_errors_total\{code="SUBGRAPH_UNAVAILABLE",service="gateway"\} 1$/m);
    // One operation, failed by the server (whatever else was wrong with it): what HighErrorRate counts.
    expect(metrics).toMatch(/^graphql_requests_total\{operation="Both",outcome="failed",service="gateway"\} 1$/m);
  });

  /** A server named `name` whose context function throws `error` for every request; its URL. */
  async function failingContext(name: 'gateway' | 'profile', error: Error): Promise<string> {
    const server = await createGraphQLServer({
      name,
      config: loadServerConfig(name, { [`${name.toUpperCase()}_PORT`]: '0', LOG_LEVEL: 'info' }),
      apollo: { schema: testSchema(Promise.resolve(), () => undefined) },
      context: async () => {
        throw error;
      },
      checkReady: async () => undefined,
      logDestination,
    });
    servers.push(server);
    return server.listen();
  }

  it('logs, with its cause, and counts a request that failed while its context was built (Apollo runs no request hook for it)', async () => {
    const url = await failingContext('profile', new Error('the account could not be read', { cause: new Error('connect ECONNREFUSED 10.0.0.5:5432') }));
    const response = await post(url, { query: 'query Viewer { hello }', operationName: 'Viewer' }, { 'x-request-id': 'context-failed-1' });
    const body = (await response.json()) as { errors: { extensions: { code: string } }[] };
    expect({ status: response.status, code: body.errors[0]?.extensions.code }).toEqual({ status: 500, code: 'INTERNAL_SERVER_ERROR' });
    const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.requestId === 'context-failed-1');
    expect(logged).toEqual([
      expect.objectContaining({
        level: 'error',
        msg: 'request failed before it ran: its context could not be built',
        operationName: 'Viewer',
        code: 'INTERNAL_SERVER_ERROR',
        err: expect.objectContaining({ message: 'the account could not be read: connect ECONNREFUSED 10.0.0.5:5432' }),
      }),
    ]);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^graphql_errors_total\{code="INTERNAL_SERVER_ERROR",service="profile"\} 1$/m);
    expect(metrics).toMatch(/^graphql_requests_total\{operation="Viewer",outcome="failed",service="profile"\} 1$/m);
  });

  it('logs a database outage that fails every request once every few seconds, not once per request, and counts each', async () => {
    const outage = new AppError(ErrorCode.SUBGRAPH_UNAVAILABLE, 'The profile service cannot reach its database at the moment; try again shortly', {
      http: { status: 503 },
    });
    const url = await failingContext('profile', outage);
    for (let index = 0; index < 5; index += 1) {
      const response = await post(url, { query: '{ hello }' }, { 'x-request-id': `outage-${index}` });
      expect(response.status).toBe(503);
    }
    const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => String(line.requestId).startsWith('outage-'));
    expect(logged).toEqual([
      expect.objectContaining({
        requestId: 'outage-0',
        level: 'error',
        code: 'SUBGRAPH_UNAVAILABLE',
        msg: 'request failed before it ran: its context could not be built',
      }),
    ]);
    expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/^graphql_errors_total\{code="SUBGRAPH_UNAVAILABLE",service="profile"\} 5$/m);
  });

  it("logs a client's mistake found while its context was built (a malformed header) at info, not as an error", async () => {
    const url = await failingContext(
      'gateway',
      new AppError(ErrorCode.BAD_USER_INPUT, 'x-positions: not a list of positions', { field: 'x-positions', http: { status: 400 } }),
    );
    const response = await post(url, { query: '{ hello }', operationName: 'Junk1' }, { 'x-request-id': 'context-refused-1' });
    expect(response.status).toBe(400);
    const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.requestId === 'context-refused-1');
    expect(logged).toEqual([
      expect.objectContaining({ level: 'info', code: 'BAD_USER_INPUT', msg: 'request failed before it ran: its context could not be built' }),
    ]);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^graphql_errors_total\{code="BAD_USER_INPUT",service="gateway"\} 1$/m);
    // The body's operation name, which nothing checked, labels nothing: a client could use the labels up.
    expect(metrics).not.toContain('Junk1');
  });

  it('serves its metrics when a collector fails (one reading a database that is down), leaving that one out and saying which', async () => {
    const url = await start({});
    new Gauge({
      name: 'reads_a_database',
      help: 'A gauge whose collector fails',
      registers: [(servers[0] as GraphQLServer).metrics.registry],
      collect: () => Promise.reject(new Error('connect ECONNREFUSED')),
    });
    const response = await fetch(`${url}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toContain('graphql_requests_total');
    expect(text).not.toContain('reads_a_database');
    expect(lines.some((line) => line.includes('"metric":"reads_a_database"') && line.includes('connect ECONNREFUSED'))).toBe(true);
  });

  it('serves metrics on a port of their own when given one, never on the API port in production', async () => {
    const separate = await start({ METRICS_PORT: '0' });
    const server = servers[servers.length - 1] as GraphQLServer;
    expect(server.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(server.metricsUrl).not.toContain(new URL(separate).port);
    expect(await (await fetch(server.metricsUrl as string)).text()).toContain('graphql_requests_total');
    expect((await fetch(`${separate}/metrics`)).status).toBe(404);
    const production = await start({ NODE_ENV: 'production' });
    expect((await fetch(`${production}/metrics`)).status).toBe(404);
    expect(servers[servers.length - 1]?.metricsUrl).toBeUndefined();
    expect(lines.some((line) => line.includes('metrics are not served: set METRICS_PORT'))).toBe(true);
  });

  it.each([
    [{ query: '{ hello }', operationName: 'Missing' }, /^Unknown operation named "Missing"/],
    [{ query: 'query A { hello } query B { hello }' }, /say which to run with operationName/],
    [{ query: 'subscription { hello }' }, /Subscriptions are not offered over HTTP/],
  ])('answers a document that names no operation to run, or a subscription, 400 and says why: %j', async (body, message) => {
    const response = await post(await start({ NODE_ENV: 'production' }), body);
    const answer = (await response.json()) as { errors: { message: string; extensions: { code: string } }[] };
    expect({ status: response.status, code: answer.errors[0]?.extensions.code }).toEqual({ status: 400, code: 'OPERATION_RESOLUTION_FAILURE' });
    expect(answer.errors[0]?.message).toMatch(message);
  });

  it('keeps "Did you mean" suggestions, which describe the schema, out of production answers', async () => {
    const message = async (env: NodeJS.ProcessEnv) =>
      ((await (await post(await start(env), { query: '{ helo }' })).json()) as { errors: { message: string }[] }).errors[0]?.message;
    expect(await message({})).toContain('Did you mean "hello"?');
    expect(await message({ NODE_ENV: 'production' })).toBe('Cannot query field "helo" on type "Query".');
  });

  it('believes no X-Forwarded-For unless TRUST_PROXY says which hops may send one', async () => {
    const ask = (url: string) => post(url, { query: '{ clientAddress }' }, { 'x-forwarded-for': '203.0.113.7' }).then((response) => response.json());
    expect(await ask(await start({}))).toEqual({ data: { clientAddress: '127.0.0.1' } });
    expect(await ask(await start({ TRUST_PROXY: 'loopback' }))).toEqual({ data: { clientAddress: '203.0.113.7' } });
  });

  it('closes connections that trickle their request within the timeouts, while serving everyone else', async () => {
    const timeouts = { headersMs: 1000, requestMs: 3000 };
    const url = await start({ HTTP_HEADERS_TIMEOUT_MS: String(timeouts.headersMs), HTTP_REQUEST_TIMEOUT_MS: String(timeouts.requestMs) });
    const { port } = new URL(url);
    const started = Date.now();
    const closings = Array.from({ length: 50 }, (_unused, index) => {
      const socket = net.connect(Number(port), '127.0.0.1');
      // Half trickle their headers, half send headers and then trickle the body.
      socket.write(
        index % 2
          ? 'POST /graphql HTTP/1.1\r\nHost: x\r\n'
          : 'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{',
      );
      const drip = setInterval(() => socket.write(index % 2 ? 'X' : ' '), 300);
      socket.on('error', () => undefined);
      return new Promise<{ index: number; ms: number }>((resolve) =>
        socket.on('close', () => {
          clearInterval(drip);
          resolve({ index, ms: Date.now() - started });
        }),
      );
    });
    const closed: { index: number; ms: number }[] = [];
    closings.forEach((closing) => void closing.then((entry) => closed.push(entry)));
    // Everyone else is served meanwhile: while every trickling connection is open, and again once those
    // trickling their headers have been closed while those trickling a body are still open.
    const hello = async () => (await post(url, { query: '{ hello }' })).json();
    expect({ answer: await hello(), closed: closed.length }).toEqual({ answer: { data: { hello: 'world' } }, closed: 0 });
    await closings[1];
    expect({ answer: await hello(), stillOpen: closed.length < 50 }).toEqual({ answer: { data: { hello: 'world' } }, stillOpen: true });
    // Each is closed once its timeout and the server's once-a-second check have passed: seconds, where
    // Node's defaults would allow 300 s. The slack covers a loaded machine (a run with the whole suite
    // beside it closed them 77 ms past a 2 s slack).
    const bound = timeouts.requestMs + 3000;
    expect((await Promise.all(closings)).filter(({ ms }) => ms > bound)).toEqual([]);
  }, 15_000);

  it('lets a request in flight finish when it stops, then refuses new connections', async () => {
    const url = await start({});
    const slow = post(url, { query: '{ slow }' });
    await slowReached;
    const stopping = servers[0]!.stop();
    releaseSlow();
    expect(await (await slow).json()).toEqual({ data: { slow: 'done' } });
    await stopping;
    await expect(post(url, { query: '{ hello }' })).rejects.toThrow();
  });

  it('stops within SHUTDOWN_GRACE_MS when closing its connections hangs (a frozen database held the stop until it came back)', async () => {
    const server = await createGraphQLServer({
      name: 'gateway',
      config: loadServerConfig('gateway', { GATEWAY_PORT: '0', LOG_LEVEL: 'info', SHUTDOWN_GRACE_MS: '100' }),
      apollo: { schema: testSchema(Promise.resolve(), () => undefined) },
      context: async (_args, base) => base,
      checkReady: async () => undefined,
      logDestination,
      onStop: () => new Promise<void>(() => undefined),
    });
    await server.listen();
    const stopped = server.stop().then(
      () => 'stopped',
      (error: Error) => error.message,
    );
    const outcome = await Promise.race([stopped, new Promise((resolve) => setTimeout(resolve, 5000, 'still stopping after 5 s'))]);
    expect(outcome).toBe('gateway could not close its connections within 100 ms (SHUTDOWN_GRACE_MS): a database or peer does not answer');
  });
});
