import { createServer, type IncomingHttpHeaders } from 'node:http';
import { GraphQLDataSourceRequestKind } from '@apollo/gateway/dist/datasources/types';
import { Histogram, Registry } from 'prom-client';
import { SubgraphDataSource } from './data-source';
import { subgraphAgent } from './transport';

/** A subgraph stand-in on a real port: answers `answer` after `delayMs`, recording what it was sent. */
async function fakeSubgraph(options: { delayMs?: number; status?: number; answer?: unknown } = {}) {
  const received: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    received.push(req.headers);
    req.resume();
    setTimeout(
      () => res.writeHead(options.status ?? 200, { 'content-type': 'application/json' }).end(JSON.stringify(options.answer ?? { data: { ok: true } })),
      options.delayMs ?? 0,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/graphql`;
  return { url, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const registry = new Registry();
const fetchDuration = new Histogram({
  name: 'subgraph_fetch_duration_seconds',
  help: 'h',
  labelNames: ['subgraph', 'outcome'] as const,
  registers: [registry],
});
const agent = subgraphAgent(8);
const assertion = async () => 'the-gateway-assertion';
afterAll(() => agent.close());

function send(
  url: string,
  query: string,
  options: { timeoutMs?: number; authorization?: string; requestId?: string; userAgent?: string } = {},
  source?: SubgraphDataSource,
) {
  const dataSource = source ?? new SubgraphDataSource({ name: 'profile', url, timeoutMs: options.timeoutMs ?? 2000, agent, fetchDuration, assertion });
  return dataSource.process({
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

  it('shares one call among identical queries in flight through one data source', async () => {
    const fake = await subgraph({ delayMs: 100 });
    const source = new SubgraphDataSource({ name: 'profile', url: fake.url, timeoutMs: 2000, agent, fetchDuration, assertion });
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

  it('reports an HTTP failure without GraphQL errors as the subgraph being unavailable', async () => {
    const fake = await subgraph({ status: 502, answer: 'bad gateway' });
    await expect(send(fake.url, '{ ok }')).rejects.toMatchObject({
      message: 'The profile subgraph answered HTTP 502',
      extensions: { code: 'SUBGRAPH_UNAVAILABLE', serviceName: 'profile' },
    });
  });

  it('reports a subgraph that does not answer in time, or cannot be reached, by name', async () => {
    const fake = await subgraph({ delayMs: 300 });
    await expect(send(fake.url, '{ ok }', { timeoutMs: 30 })).rejects.toMatchObject({
      message: 'The profile subgraph did not answer within 30 ms',
      extensions: { code: 'SUBGRAPH_UNAVAILABLE' },
    });
    await expect(send('http://127.0.0.1:1/graphql', '{ ok }')).rejects.toMatchObject({ message: 'The profile subgraph could not be reached' });
    const metrics = await registry.getSingleMetricAsString('subgraph_fetch_duration_seconds');
    expect(metrics).toMatch(/subgraph_fetch_duration_seconds_count\{subgraph="profile",outcome="timeout"\} 1/);
    expect(metrics).toMatch(/subgraph_fetch_duration_seconds_count\{subgraph="profile",outcome="error"\} 1/);
  });
});
