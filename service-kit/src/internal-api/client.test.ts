import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { decodeJwt } from 'jose';
import { WalPositions, pollUntil } from '@fedstack/runtime';
import { createInternalClient, InternalCallError, type InternalClient } from './client';
import { internalIdentity } from './signing';

/** A peer answering every call with `answer`, recording what it was sent and on which connection. */
async function peer(answer: (req: IncomingMessage, body: string, res: ServerResponse) => void) {
  const calls: { url: string | undefined; headers: IncomingMessage['headers']; body: string; socket: Socket }[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      calls.push({ url: req.url, headers: req.headers, body, socket: req.socket });
      answer(req, body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    calls,
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));

describe('the internal API client', () => {
  let client: InternalClient;
  const open: { close(): unknown }[] = [];
  const clientFor = async (url: string, timeoutMs = 5000) => {
    const identity = await internalIdentity('admin');
    client = createInternalClient({ identity, peers: { auth: url, profile: url, payments: url, admin: url }, timeoutMs });
    return client;
  };
  afterEach(async () => {
    await client?.close();
    await Promise.all(open.splice(0).map((each) => each.close()));
  });

  it('sends a signed command with its request id, answers its result and records where the peer’s primary was', async () => {
    const auth = await peer((_req, _body, res) => json(res, 200, { result: { suspended: true } }, { 'x-wal-positions': 'auth=0/16B3D48' }));
    open.push(auth);
    const written = new WalPositions();
    const sent = Date.now();
    const result = await (await clientFor(auth.url)).command('auth', 'suspendUser', { userId: 'u1' }, { requestId: 'req-1', written });
    expect(result).toEqual({ suspended: true });
    expect(written.get('auth')).toBe('0/16B3D48');
    const [call] = auth.calls;
    expect(call?.url).toBe('/internal/commands/suspendUser');
    expect(JSON.parse(call?.body ?? '')).toEqual({ userId: 'u1' });
    expect(call?.headers).toMatchObject({ 'content-type': 'application/json', 'x-request-id': 'req-1', authorization: expect.stringMatching(/^Bearer ey/) });
    // Valid until the caller stops waiting (5 s), to the second: a minute let a hung peer run it long after the caller gave up.
    const { exp = 0 } = decodeJwt(String(call?.headers.authorization).slice('Bearer '.length));
    expect(exp * 1000).toBeGreaterThanOrEqual(sent + 5000);
    expect(exp * 1000).toBeLessThan(Date.now() + 6000);
  });

  it('turns a refusal into the peer’s own error, and anything else into one naming the service', async () => {
    const auth = await peer((req, _body, res) =>
      req.url?.endsWith('/conflict')
        ? json(res, 409, { error: { code: 'CONFLICT', message: 'Already suspended', field: 'userId' } })
        : req.url?.endsWith('/broken')
          ? json(res, 500, { error: { code: 'INTERNAL_SERVER_ERROR', message: 'Internal server error' } })
          : res.writeHead(502).end('<html>bad gateway</html>'),
    );
    open.push(auth);
    await clientFor(auth.url);
    const refused = await client.command('auth', 'conflict', {}).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(InternalCallError);
    expect(refused).toMatchObject({ status: 409, code: 'CONFLICT', field: 'userId', message: 'Already suspended', refused: true, retryable: true });
    const failed = await client.command('auth', 'other', {}).catch((error: unknown) => error);
    expect(failed).toMatchObject({ status: 502, message: 'The auth service answered HTTP 502', refused: false, retryable: true });
    expect((failed as InternalCallError).toClientError()).toMatchObject({
      message: 'The auth service answered HTTP 502',
      extensions: { code: 'SUBGRAPH_UNAVAILABLE', unavailableService: 'auth' },
    });
    // Its masked internal error names no service: the client is told whose it was.
    const broken = (await client.command('auth', 'broken', {}).catch((error: unknown) => error)) as InternalCallError;
    expect(broken.toClientError()).toMatchObject({
      message: 'The auth service failed with an internal error; try again',
      extensions: { code: 'SUBGRAPH_UNAVAILABLE', unavailableService: 'auth' },
    });
  });

  it('asks a peer whether it is ready by GET /readyz: true only for 200, false when it cannot be reached', async () => {
    let status = 503;
    const profile = await peer((req, _body, res) => res.writeHead(req.method === 'GET' && req.url === '/readyz' ? status : 404).end());
    open.push(profile);
    await clientFor(profile.url);
    expect(await client.ready('profile')).toBe(false);
    status = 200;
    expect(await client.ready('profile')).toBe(true);
    await profile.close();
    expect(await client.ready('profile')).toBe(false);
  });

  it('says a peer could not be reached, or did not answer in time, and keeps no call waiting', async () => {
    const closed = await peer(() => undefined);
    await closed.close();
    await clientFor(closed.url);
    await expect(client.command('payments', 'erase', {})).rejects.toMatchObject({ status: null, message: 'The payments service could not be reached' });

    const silent = await peer(() => undefined);
    open.push(silent);
    await clientFor(silent.url, 200);
    const started = Date.now();
    await expect(client.deliver('payments', { eventId: 'e1', topic: 't', payload: {}, createdAt: new Date(0) })).rejects.toMatchObject({
      status: null,
      message: 'The payments service did not answer within 200 ms',
    });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(JSON.parse(silent.calls[0]?.body ?? '')).toEqual({ eventId: 'e1', topic: 't', payload: {}, createdAt: '1970-01-01T00:00:00.000Z' });
  });

  it('lets the calls under way finish when it closes, and makes none after', async () => {
    let answerNow: () => void = () => undefined;
    const auth = await peer((_req, _body, res) => (answerNow = () => json(res, 200, { result: 'done' })));
    open.push(auth);
    await clientFor(auth.url);
    const underWay = client.command('auth', 'slow', {});
    await pollUntil('the call received', () => auth.calls.length === 1, { timeoutMs: 5000, intervalMs: 5 });
    const closing = client.close();
    answerNow();
    await expect(underWay).resolves.toBe('done');
    await closing;
    await expect(client.command('auth', 'late', {})).rejects.toMatchObject({ message: 'The auth service could not be reached' });
    expect(auth.calls).toHaveLength(1);
  });

  it('keeps its connection to a peer open between calls', async () => {
    const profile = await peer((_req, _body, res) => json(res, 200, {}));
    open.push(profile);
    await clientFor(profile.url);
    for (let index = 0; index < 3; index += 1) {
      await client.deliver('profile', { eventId: `e${index}`, topic: 't', payload: {}, createdAt: new Date() });
    }
    expect(new Set(profile.calls.map((call) => call.socket)).size).toBe(1);
  });
});
