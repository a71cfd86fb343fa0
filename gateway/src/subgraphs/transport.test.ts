import { createServer, type Server } from 'node:http';
import { BufferedResponse, isTooLongAnswer, subgraphAgent, subgraphTransport, type CallOutcome } from './transport';

describe('subgraph transport', () => {
  let server: Server;
  let url: string;
  const agent = subgraphAgent(4, 1_048_576);

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        if (req.url === '/slow') return void setTimeout(() => res.end('late'), 500);
        if (req.url === '/page') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>Sign in to the Wi-Fi</html>');
        if (req.url === '/cut') return void res.writeHead(200, { 'content-type': 'application/json' }).end('  [1, 2');
        if (req.url === '/huge') return void res.writeHead(200, { 'content-type': 'application/json' }).end(`{"data":"${'x'.repeat(2_000_000)}"}`);
        res.setHeader('set-cookie', ['a=1', 'b=2']);
        res.writeHead(req.url === '/fail' ? 502 : 200, {
          'content-type': 'application/json',
          'x-echo-auth': req.headers.authorization ?? '',
          'x-echo-deadline': String(req.headers['x-request-deadline']),
        });
        res.end(JSON.stringify({ method: req.method, body }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await agent.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("sends the request as given and answers with the subgraph's status, headers and body", async () => {
    const outcomes: CallOutcome[] = [];
    const fetcher = subgraphTransport({ agent, timeoutMs: 1000, onCall: (outcome) => outcomes.push(outcome) });
    const sent = Date.now();
    const response = await fetcher(`${url}/graphql`, { method: 'POST', headers: { authorization: 'Bearer x' }, body: '{"query":"{ ok }"}' });
    expect({ status: response.status, ok: response.ok, url: response.url }).toEqual({ status: 200, ok: true, url: `${url}/graphql` });
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('x-echo-auth')).toBe('Bearer x');
    // When the gateway stops waiting (its timeout from now), so that a subgraph that hung runs nothing it reads later.
    const deadline = Number(response.headers.get('x-echo-deadline'));
    expect(deadline).toBeGreaterThanOrEqual(sent + 1000);
    expect(deadline).toBeLessThanOrEqual(Date.now() + 1000);
    expect(response.headers.get('set-cookie')).toBe('a=1, b=2');
    expect(await response.json()).toEqual({ method: 'POST', body: '{"query":"{ ok }"}' });
    const failed = await fetcher(`${url}/fail`, { body: '' });
    expect({ status: failed.status, ok: failed.ok }).toEqual({ status: 502, ok: false });
    // A 5xx is an answer, given as it came, but a failed call for the subgraph's metrics.
    expect(outcomes).toEqual(['ok', 'error']);
  });

  it("counts a 2xx whose body is no JSON object (a proxy's page, an array, cut short) as a failed call, and gives it as it came", async () => {
    const outcomes: CallOutcome[] = [];
    const fetcher = subgraphTransport({ agent, timeoutMs: 1000, onCall: (outcome) => outcomes.push(outcome) });
    const page = await fetcher(`${url}/page`, {});
    expect({ status: page.status, text: await page.text() }).toEqual({ status: 200, text: '<html>Sign in to the Wi-Fi</html>' });
    await fetcher(`${url}/cut`, {});
    await fetcher(`${url}/graphql`, { body: '{}' });
    expect(outcomes).toEqual(['error', 'error', 'ok']);
  });

  it('fails a call that takes longer than the timeout with a TimeoutError, and says so', async () => {
    const outcomes: CallOutcome[] = [];
    const fetcher = subgraphTransport({ agent, timeoutMs: 50, onCall: (outcome) => outcomes.push(outcome) });
    await expect(fetcher(`${url}/slow`, {})).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(outcomes).toEqual(['timeout']);
  });

  it('fails a call whose answer is longer than the pool reads, without reading it all (150 MB ended a gateway worker)', async () => {
    const outcomes: CallOutcome[] = [];
    const fetcher = subgraphTransport({ agent, timeoutMs: 1000, onCall: (outcome) => outcomes.push(outcome) });
    const failure = await fetcher(`${url}/huge`, {}).catch((error: Error) => error);
    expect(failure instanceof Error && isTooLongAnswer(failure)).toBe(true);
    expect(outcomes).toEqual(['error']);
  });

  it('reports a subgraph nobody listens on as an error', async () => {
    const outcomes: CallOutcome[] = [];
    const fetcher = subgraphTransport({ agent, timeoutMs: 1000, onCall: (outcome) => outcomes.push(outcome) });
    await expect(fetcher('http://127.0.0.1:1/graphql', {})).rejects.toThrow();
    expect(outcomes).toEqual(['error']);
  });
});

describe('BufferedResponse', () => {
  const make = () => new BufferedResponse('http://x/graphql', 200, new Headers({ 'content-type': 'application/json' }), '{"data":{"a":1}}');

  it('is read once, like a Fetch Response', async () => {
    const response = make();
    expect(response.bodyUsed).toBe(false);
    expect(await response.text()).toBe('{"data":{"a":1}}');
    expect(response.bodyUsed).toBe(true);
    await expect(response.json()).rejects.toThrow(TypeError);
    expect(() => response.clone()).toThrow(TypeError);
  });

  it('clones into an independent copy with its own headers', async () => {
    const response = make();
    const copy = response.clone();
    copy.headers.set('content-type', 'text/plain');
    expect(await copy.json()).toEqual({ data: { a: 1 } });
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(new TextDecoder().decode(await response.arrayBuffer())).toBe('{"data":{"a":1}}');
  });
});
