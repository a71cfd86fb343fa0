import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { graphql } from '@fedstack/service-kit/testing';
import { pollUntil } from '@fedstack/runtime';
import { demoAdmin, pay, register, within } from './clients';
import { startProcessStack, type ProcessStack } from './processes';
import { overWebSocket, wsClient } from './subscribers';

/** A span as OTLP/HTTP JSON carries it, with the service that sent it. */
interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  service: string;
  attributes: Record<string, unknown>;
}

interface OtlpExport {
  resourceSpans: {
    resource: { attributes: { key: string; value: { stringValue?: string } }[] };
    scopeSpans: { spans: (Omit<Span, 'service' | 'attributes'> & { attributes?: { key: string; value: Record<string, unknown> }[] })[] }[];
  }[];
}

const SERVER_KIND = 2;
/** A span of a SQL statement (current semantic conventions, or the older attribute). */
const isSql = (span: Span) => (span.attributes['db.system.name'] ?? span.attributes['db.system']) === 'postgresql';

/**
 * Tracing switched on the standard way (OTEL_EXPORTER_OTLP_ENDPOINT) on the stack as separate processes,
 * exporting to an OTLP/HTTP receiver in this test: one client request is one trace, through the gateway,
 * every subgraph its plan called, and their SQL, each span under its parent.
 */
describe('tracing', () => {
  const spans: Span[] = [];
  let receiver: Server;
  let stack: ProcessStack;
  let starting: Promise<ProcessStack> | undefined;

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpExport;
        for (const { resource, scopeSpans } of body.resourceSpans) {
          const service = resource.attributes.find((attribute) => attribute.key === 'service.name')?.value.stringValue ?? '';
          for (const scope of scopeSpans) {
            for (const span of scope.spans) {
              const attributes = Object.fromEntries((span.attributes ?? []).map(({ key, value }) => [key, Object.values(value)[0]]));
              spans.push({ ...span, service, attributes });
            }
          }
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    starting = startProcessStack({
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_TRACES_SAMPLER: 'parentbased_always_on',
      OTEL_BSP_SCHEDULE_DELAY: '200',
    });
    stack = await starting;
  }, 120_000);
  afterAll(async () => {
    // Stopped even when starting outlasted the hook's time: it leaves nothing running.
    await (await starting)?.stop();
    await new Promise((resolve) => receiver?.close(resolve));
  });

  it('follows one request through the gateway, each subgraph its plan called and their SQL, as one trace', async () => {
    const admin = await demoAdmin(stack.gatewayUrl);
    const traceId = randomBytes(16).toString('hex');
    const clientSpan = randomBytes(8).toString('hex');
    const result = await graphql(stack.gatewayUrl, '{ me { email profile { displayName } paymentTotals { currency amount } } }', {
      token: admin.accessToken,
      headers: { traceparent: `00-${traceId}-${clientSpan}-01`, 'x-request-id': `traced-${traceId}` },
    });
    expect(result.errors).toBeUndefined();

    const trace = () => spans.filter((span) => span.traceId === traceId);
    const services = () => new Set(trace().map((span) => span.service));
    // Each process exports its spans in batches of its own, so the trace arrives in pieces: wait until it
    // is whole (the gateway's server span, which ends last, and every span's parent have arrived) and holds
    // what each subgraph should have sent; what is still missing then, the first assertion shows.
    const missing = (): string[] => {
      const arrived = trace();
      const ids = new Set(arrived.map((span) => span.spanId));
      const has = (service: string, what: string, test: (span: Span) => boolean) =>
        arrived.some((span) => span.service === service && test(span)) ? [] : [`${service}: ${what}`];
      return [
        ...has('gateway', "the server span under the client's", (span) => span.parentSpanId === clientSpan),
        ...has('gateway', 'gateway.plan', (span) => span.name === 'gateway.plan'),
        ...['auth', 'profile', 'payments'].flatMap((subgraph) => [
          ...has(subgraph, 'a server span', (span) => span.kind === SERVER_KIND),
          ...has(subgraph, 'SQL', isSql),
          ...has(subgraph, 'an operation', (span) => /^(query|mutation)\b/.test(span.name)),
          ...has(subgraph, 'a resolver', (span) => span.name.startsWith('graphql.resolve')),
        ]),
        ...arrived
          .filter((span) => span.parentSpanId !== clientSpan && !ids.has(span.parentSpanId ?? ''))
          .map((span) => `the parent of ${span.service}'s ${span.name}`),
      ];
    };
    await within(10_000, async () => missing().length === 0).catch(() => undefined);
    expect(missing()).toEqual([]);
    const all = trace();

    // One trace, its root the client's span; every other span's parent is in the trace.
    const ids = new Set(all.map((span) => span.spanId));
    const roots = all.filter((span) => !span.parentSpanId || !ids.has(span.parentSpanId));
    expect(roots.map((span) => ({ service: span.service, parent: span.parentSpanId }))).toEqual([{ service: 'gateway', parent: clientSpan }]);
    // The admin subgraph was not in the plan.
    expect(services()).toEqual(new Set(['gateway', 'auth', 'profile', 'payments']));

    const byId = new Map(all.map((span) => [span.spanId, span]));
    const gatewayServer = roots[0] as Span;
    expect(gatewayServer).toMatchObject({ kind: SERVER_KIND, attributes: { 'fedstack.request_id': `traced-${traceId}` } });
    // Apollo Gateway's own spans: the plan and a fetch per subgraph.
    expect(all.some((span) => span.service === 'gateway' && span.name === 'gateway.plan')).toBe(true);
    for (const subgraph of ['auth', 'profile', 'payments']) {
      // The subgraph's server span hangs under a span of the gateway (its HTTP call to the subgraph).
      const served = all.filter((span) => span.service === subgraph && span.kind === SERVER_KIND);
      expect({ subgraph, parents: served.map((span) => byId.get(span.parentSpanId ?? '')?.service) }).toEqual({
        subgraph,
        parents: served.map(() => 'gateway'),
      });
      // Its operation, and the SQL it ran, under its server span.
      const sql = all.filter((span) => span.service === subgraph && isSql(span));
      expect({ subgraph, sql: sql.length > 0 }).toEqual({ subgraph, sql: true });
      const ancestors = (span: Span): Span[] => {
        const parent = byId.get(span.parentSpanId ?? '');
        return parent ? [parent, ...ancestors(parent)] : [];
      };
      for (const statement of sql)
        expect({ subgraph, underServer: ancestors(statement).some((span) => served.includes(span)) }).toEqual({ subgraph, underServer: true });
      // The GraphQL operation it executed (named by its type and name), and a resolver.
      expect({ subgraph, executed: all.some((span) => span.service === subgraph && /^(query|mutation)\b/.test(span.name)) }).toEqual({
        subgraph,
        executed: true,
      });
      expect({ subgraph, resolved: all.some((span) => span.service === subgraph && span.name.startsWith('graphql.resolve')) }).toEqual({
        subgraph,
        resolved: true,
      });
    }
  });

  it("keeps what an operation sent by GET carries out of the gateway's server span: its query string holds the document, the variables and whatever else a client puts there", async () => {
    const traceId = randomBytes(16).toString('hex');
    const url = new URL(stack.gatewayUrl);
    url.searchParams.set('query', 'query Lookup($e: String!) { users(filter: { emailPrefix: $e }) { totalCount } }');
    url.searchParams.set('variables', JSON.stringify({ e: 'marked-secret@example.com' }));
    url.searchParams.set('operationName', 'Lookup');
    url.searchParams.set('access_token', 'marked-secret-token');
    await fetch(url, { headers: { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`, 'apollo-require-preflight': '1' } });
    const server = await pollUntil(
      "the gateway's server span",
      () => spans.find((span) => span.traceId === traceId && span.service === 'gateway' && span.kind === SERVER_KIND),
      {
        timeoutMs: 10_000,
        intervalMs: 100,
      },
    );
    expect(server.attributes['url.query']).toBe('query=REDACTED&variables=REDACTED&operationName=Lookup&access_token=REDACTED');
    expect(JSON.stringify(spans.filter((span) => span.traceId === traceId))).not.toContain('marked-secret');
  });

  it("follows a subscription's start from the gateway into payments, and each event from payments' commit through the gateway's entity fetch to auth", async () => {
    const user = await register(stack.gatewayUrl);
    const client = wsClient(stack.gatewayUrl, user.accessToken);
    try {
      const events = overWebSocket(client, 'subscription { paymentUpdated { id status user { email } } }');
      // Every payment made so far: an event may arrive after the answer to the payment it is about.
      const paidIds: string[] = [];
      const id = await pollUntil(
        'an event',
        async () => {
          const paid = (await pay(stack.gatewayUrl, user)).data?.createPayment.id;
          if (paid) paidIds.push(paid);
          return paidIds.find((candidate) => events.pending.some((result) => (result.data?.paymentUpdated as { id: string } | undefined)?.id === candidate));
        },
        { timeoutMs: 20_000, intervalMs: 300 },
      );
      const byId = () => new Map(spans.map((span) => [span.spanId, span]));
      const ancestors = (span: Span): Span[] => {
        const parent = byId().get(span.parentSpanId ?? '');
        return parent ? [parent, ...ancestors(parent)] : [];
      };
      // The gateway's span for the event, under payments' span for it, with auth's server span beneath.
      const eventTrace = () => {
        const gatewayEvents = spans.filter((span) => span.service === 'gateway' && span.name === 'subscription event');
        for (const event of gatewayEvents) {
          const parent = byId().get(event.parentSpanId ?? '');
          const authServed = spans.find((span) => span.service === 'auth' && span.kind === SERVER_KIND && ancestors(span).includes(event));
          if (parent?.service === 'payments' && parent.name === 'subscription event' && authServed) return { event, parent, authServed };
        }
        return undefined;
      };
      const found = await pollUntil('the event traced across payments, the gateway and auth', eventTrace, { timeoutMs: 15_000, intervalMs: 100 });
      expect(found.parent.traceId).toBe(found.authServed.traceId);
      expect(id).toBeDefined();
      // The subscription's start, one trace: the gateway's span, payments' under it, and the SQL payments
      // sent to start it (the subscriber's account) under that; each event is a trace of its own.
      const startTrace = () => {
        const paymentsStart = spans.find(
          (span) => span.service === 'payments' && span.name === 'subscription start' && byId().get(span.parentSpanId ?? '')?.service === 'gateway',
        );
        const sql = spans.find((span) => isSql(span) && span.service === 'payments' && paymentsStart && ancestors(span).includes(paymentsStart));
        return paymentsStart && sql ? { paymentsStart, sql } : undefined;
      };
      const { paymentsStart } = await pollUntil("the subscription's start traced from the gateway into payments' SQL", startTrace, {
        timeoutMs: 5_000,
        intervalMs: 100,
      });
      expect({ kind: paymentsStart.kind, parent: byId().get(paymentsStart.parentSpanId ?? '')?.name }).toEqual({
        kind: SERVER_KIND,
        parent: 'subscription start',
      });
      expect(found.parent.traceId).not.toBe(paymentsStart.traceId);
    } finally {
      await client.dispose();
    }
  });
});
