import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadGatewayConfig } from './config';
import { createGatewayServer } from './server';
import { exportJWK, generateKeyPair } from 'jose';
import { TOKEN_ALGORITHM, freePort, type GraphQLServer } from '@fedstack/runtime';

// What the gateway's own log says when a subgraph fails a request: the operator reads it first.

/** The JSON lines a gateway writes (pino writes each as it is logged, so a line is there once its request is answered). */
class LogCapture {
  readonly lines: Record<string, unknown>[] = [];
  write(chunk: string): void {
    for (const line of chunk.split('\n')) if (line.trim()) this.lines.push(JSON.parse(line) as Record<string, unknown>);
  }
}

/** A stand-in for auth that answers every call with `answer`. */
async function standIn(answer: unknown): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    req.resume().on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`, server };
}

/** A production gateway's settings: its own signing key, metrics on a port of their own. */
async function production(): Promise<NodeJS.ProcessEnv> {
  const { privateKey } = await generateKeyPair(TOKEN_ALGORITHM, { extractable: true });
  return { NODE_ENV: 'production', GATEWAY_PRIVATE_KEY: JSON.stringify({ ...(await exportJWK(privateKey)), alg: TOKEN_ALGORITHM }), METRICS_PORT: '0' };
}

describe('the gateway, when a subgraph fails', () => {
  const running: { gateway?: GraphQLServer; standIn?: Server } = {};
  afterEach(async () => {
    await running.gateway?.stop();
    running.standIn?.close();
  });

  /** A gateway logging at info into `logs`, calling auth at `authUrl`, with `env` besides; its /graphql. */
  async function gatewayWith(authUrl: string, logs: LogCapture, env: NodeJS.ProcessEnv = {}): Promise<string> {
    const config = loadGatewayConfig({ ...process.env, GATEWAY_PORT: '0', LOG_LEVEL: 'info', AUTH_SUBGRAPH_URL: authUrl, ...env });
    running.gateway = await createGatewayServer({ config, logDestination: { write: (chunk: string) => logs.write(chunk) } });
    return `${await running.gateway.listen()}/graphql`;
  }
  const ask = (url: string, requestId: string) =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': requestId },
      body: JSON.stringify({ query: 'query Me { me { email } }' }),
    }).then((response) => response.json() as Promise<{ errors?: { extensions?: Record<string, unknown> }[] }>);

  it('warns why a subgraph could not be reached (connection refused), naming it, once for several failed calls in a row', async () => {
    const logs = new LogCapture();
    // A port nobody listens on: every connection is refused.
    const url = await gatewayWith(`http://127.0.0.1:${await freePort()}/graphql`, logs);
    for (const requestId of ['refused-1', 'refused-2', 'refused-3']) {
      expect((await ask(url, requestId)).errors?.[0]).toMatchObject({
        message: 'The auth subgraph could not be reached',
        extensions: { code: 'SUBGRAPH_UNAVAILABLE', serviceName: 'auth' },
      });
    }
    expect(logs.lines.filter((line) => line.level !== 'info')).toEqual([
      expect.objectContaining({
        level: 'warn',
        msg: 'a call to a subgraph got no answer',
        subgraph: 'auth',
        requestId: 'refused-1',
        err: expect.objectContaining({ code: 'ECONNREFUSED', message: expect.stringContaining('ECONNREFUSED') }),
      }),
    ]);
  });

  it("warns, naming the subgraph, when one answers INTERNAL_SERVER_ERROR (the cause is in the subgraph's log under the same request id)", async () => {
    const failing = await standIn({
      data: { me: null },
      errors: [{ message: 'Internal server error', path: ['me'], extensions: { code: 'INTERNAL_SERVER_ERROR' } }],
    });
    running.standIn = failing.server;
    const logs = new LogCapture();
    const url = await gatewayWith(failing.url, logs);
    expect((await ask(url, 'forwarded-1')).errors?.[0]?.extensions).toMatchObject({ code: 'INTERNAL_SERVER_ERROR', serviceName: 'auth' });
    expect(logs.lines.filter((line) => line.requestId === 'forwarded-1' && line.level !== 'info')).toEqual([
      expect.objectContaining({ level: 'warn', subgraph: 'auth', errors: 1, operationName: 'Me' }),
    ]);
  });

  it('in production, passes on no message or detail of an internal error a subgraph failed to mask, naming the subgraph', async () => {
    const failing = await standIn({
      data: { me: null },
      errors: [
        {
          message: 'Invalid `prisma.user.findUnique()` invocation: connection to postgres://auth_svc:s3cret@10.0.0.5 refused',
          path: ['me'],
          extensions: { code: 'INTERNAL_SERVER_ERROR', sql: 'SELECT password_hash FROM auth.users' },
        },
        // Without a code: Apollo Gateway's DOWNSTREAM_SERVICE_ERROR, masked without naming the subgraph.
        { message: 'relation "auth.users" does not exist', path: ['me'] },
      ],
    });
    running.standIn = failing.server;
    const url = await gatewayWith(failing.url, new LogCapture(), await production());
    expect((await ask(url, 'unmasked-1')).errors).toEqual([
      { message: 'Internal server error', path: ['me'], extensions: { code: 'INTERNAL_SERVER_ERROR', serviceName: 'auth' } },
      { message: 'Internal server error', path: ['me'], extensions: { code: 'INTERNAL_SERVER_ERROR', serviceName: 'auth' } },
    ]);
  });

  it('answers SUBGRAPH_UNAVAILABLE, naming it, for a subgraph that answers neither data nor errors (its fields were null, as though it had nothing)', async () => {
    const empty = await standIn({});
    running.standIn = empty.server;
    const url = await gatewayWith(empty.url, new LogCapture());
    expect((await ask(url, 'empty-1')).errors).toEqual([
      expect.objectContaining({
        message: 'The auth subgraph answered neither data nor errors',
        extensions: expect.objectContaining({ code: 'SUBGRAPH_UNAVAILABLE', serviceName: 'auth' }),
      }),
    ]);
  });

  it("in production, says among its errors, masked, why data is missing where a subgraph answered a null the schema allows none for (Apollo's valueCompletion went out in extensions, naming schema types)", async () => {
    const nulled = await standIn({ data: { me: { email: null } } });
    running.standIn = nulled.server;
    const url = await gatewayWith(nulled.url, new LogCapture(), await production());
    expect(await ask(url, 'nulled-1')).toEqual({
      data: { me: null },
      errors: [{ message: 'Internal server error', path: ['me', 'email'], extensions: { code: 'INTERNAL_SERVER_ERROR' } }],
    });
  });
});
