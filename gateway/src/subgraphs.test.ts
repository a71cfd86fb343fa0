import { createServer, type Server } from 'node:http';
import { GraphQLDataSourceRequestKind } from '@apollo/gateway/dist/datasources/types';
import { Histogram, Registry } from 'prom-client';
import { SubgraphDataSource, subgraphAgent } from './subgraphs';

/** A fake subgraph that answers after a delay and counts the calls it gets. */
async function slowSubgraph(delayMs: number): Promise<{ url: string; calls: () => number; server: Server }> {
  let calls = 0;
  const server = createServer((req, res) => {
    calls += 1;
    req.resume();
    setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":{"ok":true}}'), delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/graphql`, calls: () => calls, server };
}

function dataSource(url: string, timeoutMs = 2000) {
  const fetchDuration = new Histogram({ name: 'f', help: 'f', labelNames: ['subgraph', 'outcome'] as const, registers: [new Registry()] });
  return new SubgraphDataSource({ name: 'profile', url, timeoutMs, agent: subgraphAgent(8), fetchDuration });
}

function send(source: SubgraphDataSource, query: string, authorization = 'Bearer a', requestId = 'r') {
  return source.process({
    kind: GraphQLDataSourceRequestKind.HEALTH_CHECK,
    request: { query, http: { method: 'POST', url: '', headers: new Headers() as never } },
    context: { requestId, authorization, clientAddress: '203.0.113.9' },
  });
}

describe('subgraph calls', () => {
  let subgraph: Awaited<ReturnType<typeof slowSubgraph>>;
  beforeEach(async () => {
    subgraph = await slowSubgraph(100);
  });
  afterEach(() => new Promise<void>((resolve) => subgraph.server.close(() => resolve())));

  it('shares one call among identical queries in flight, whatever their request ids', async () => {
    const source = dataSource(subgraph.url);
    const answers = await Promise.all([1, 2, 3, 4, 5].map((n) => send(source, '{ ok }', 'Bearer a', `request-${n}`)));
    expect(answers.map((answer) => answer.data)).toEqual(Array(5).fill({ ok: true }));
    expect(subgraph.calls()).toBe(1);
  });

  it('never shares calls across credentials, and never for mutations', async () => {
    const source = dataSource(subgraph.url);
    await Promise.all([send(source, '{ ok }', 'Bearer a'), send(source, '{ ok }', 'Bearer b')]);
    expect(subgraph.calls()).toBe(2);
    await Promise.all([1, 2, 3].map(() => send(source, 'mutation { ok }')));
    expect(subgraph.calls()).toBe(5);
  });

  it('reports a subgraph that does not answer in time by name', async () => {
    const source = dataSource(subgraph.url, 30);
    await expect(send(source, '{ ok }')).rejects.toMatchObject({
      message: 'The profile subgraph did not answer within 30 ms',
      extensions: { code: 'SUBGRAPH_UNAVAILABLE', serviceName: 'profile' },
    });
  });
});
