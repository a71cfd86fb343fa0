import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse, type DocumentNode, type ExecutionResult, type FormattedExecutionResult } from 'graphql';
import type { GraphQLDataSource, ServiceMap } from '@apollo/gateway';
import type { Sink } from 'graphql-ws';
import { Registry } from 'prom-client';
import { REPOSITORY_ROOT, createLogger } from '@fedstack/runtime';
import { subscriptionExecutor } from './executor';
import { subscriptionMetrics } from './metrics';
import { SubscriptionPlanner } from './planner';
import type { UpstreamSubscriptions } from './upstream';

const SUPERGRAPH = readFileSync(path.join(REPOSITORY_ROOT, 'supergraph.graphql'), 'utf8');
// Answered by payments alone: each event runs the plan without calling another subgraph.
const DOCUMENT = parse('subscription { paymentUpdated { id status } }');
const event = (id: string): FormattedExecutionResult => ({ data: { paymentUpdated: { id, status: 'PENDING' } } });

/** An executor over a subgraph this test plays: its sink, how often it was unsubscribed, and how often the subscription was given back. */
function harness(options: { maxQueuedEvents?: number; planner?: SubscriptionPlanner; document?: DocumentNode; dataSources?: ServiceMap } = {}) {
  const planner = options.planner ?? new SubscriptionPlanner();
  if (!options.planner) planner.load(SUPERGRAPH);
  const seen = { unsubscribed: 0, released: 0, sink: undefined as Sink<FormattedExecutionResult> | undefined };
  const upstream = {
    subscribe: (_request: unknown, sink: Sink<FormattedExecutionResult>) => {
      seen.sink = sink;
      return () => void (seen.unsubscribed += 1);
    },
  } as unknown as UpstreamSubscriptions;
  const registry = new Registry();
  const subscribe = subscriptionExecutor({
    planner,
    upstream,
    dataSources: () => options.dataSources ?? {},
    metrics: subscriptionMetrics(registry),
    production: true,
    maxQueuedEvents: options.maxQueuedEvents ?? 100,
  });
  const results = subscribe({
    document: options.document ?? DOCUMENT,
    operationName: undefined,
    variables: {},
    context: { requestId: 'r1', authorization: 'Bearer t', clientAddress: undefined, userAgent: undefined, logger: createLogger('test', 'silent') },
    release: () => void (seen.released += 1),
  });
  const active = async () => (await registry.getSingleMetric('subscriptions_active')?.get())?.values.reduce((sum, { value }) => sum + value, 0);
  return { seen, results, active, registry };
}

/** The subscriptions counted lost (ended, events missed), by field and reason: none were counted before. */
const lostCounts = async (registry: Registry) =>
  (await registry.getSingleMetric('subscription_lost_total')?.get())?.values.map(({ value, labels }) => ({ value, labels }));
const ids = (result: IteratorResult<ExecutionResult>) => (result.value as ExecutionResult | undefined)?.data;
const codes = (result: IteratorResult<ExecutionResult>) => (result.value as ExecutionResult | undefined)?.errors?.map((error) => error.extensions.code);

describe('a subscription through the gateway', () => {
  it('delivers each event, and ends at once when its client ends it while it waits, giving everything back once', async () => {
    const { seen, results, active } = harness();
    seen.sink?.next(event('p1'));
    expect(ids(await results.next())).toEqual({ paymentUpdated: { id: 'p1', status: 'PENDING' } });
    expect(await active()).toBe(1);
    const waiting = results.next();
    await results.return();
    expect(await waiting).toEqual({ done: true, value: undefined });
    await results.return();
    expect({ unsubscribed: seen.unsubscribed, released: seen.released, active: await active() }).toEqual({ unsubscribed: 1, released: 1, active: 0 });
    // What the subgraph still sends is dropped.
    seen.sink?.next(event('p2'));
    expect(await results.next()).toEqual({ done: true, value: undefined });
  });

  it('delivers the events it had, then SUBGRAPH_UNAVAILABLE, when the subgraph ends it with an error, and counts it lost', async () => {
    const { seen, results, registry } = harness();
    seen.sink?.next(event('p1'));
    seen.sink?.error(new Error('connection lost'));
    expect(ids(await results.next())).toEqual({ paymentUpdated: { id: 'p1', status: 'PENDING' } });
    expect(codes(await results.next())).toEqual(['SUBGRAPH_UNAVAILABLE']);
    expect(await results.next()).toEqual({ done: true, value: undefined });
    expect(seen.released).toBe(1);
    expect(await lostCounts(registry)).toEqual([{ value: 1, labels: { field: 'paymentUpdated', reason: 'subgraph' } }]);
  });

  it('ends with SUBGRAPH_UNAVAILABLE, saying events may have been missed, when more events wait than allowed', async () => {
    const { seen, results, registry } = harness({ maxQueuedEvents: 2 });
    for (const id of ['p1', 'p2', 'p3']) seen.sink?.next(event(id));
    const last = await results.next();
    expect(codes(last)).toEqual(['SUBGRAPH_UNAVAILABLE']);
    expect((last.value as ExecutionResult).errors?.[0]?.message).toContain('events may have been missed: subscribe again');
    expect(await results.next()).toEqual({ done: true, value: undefined });
    expect({ unsubscribed: seen.unsubscribed, released: seen.released }).toEqual({ unsubscribed: 1, released: 1 });
    expect((await registry.getSingleMetric('subscription_fell_behind_total')?.get())?.values).toEqual([
      expect.objectContaining({ value: 1, labels: { field: 'paymentUpdated' } }),
    ]);
  });

  it("calls the subscription's own subgraph again for the rest of the plan, answering only its first fetch with the event", async () => {
    // payments (the event) → admin (the user's audit trail, its actor) → payments again (the actor's payments).
    const entities = (answer: (representation: { id: string }) => Record<string, unknown>): GraphQLDataSource => ({
      process: ({ request }) =>
        Promise.resolve({ data: { _entities: (request.variables?.representations as { id: string }[]).map((representation) => answer(representation)) } }),
    });
    const { seen, results } = harness({
      document: parse(
        'subscription { paymentUpdated { id user { auditTrail(first: 1) { edges { node { actor { payments(first: 1) { edges { node { id } } } } } } } } } }',
      ),
      dataSources: {
        admin: entities(() => ({ __typename: 'User', auditTrail: { edges: [{ node: { actor: { __typename: 'User', id: 'admin-1' } } }] } })),
        payments: entities(({ id }) => ({ __typename: 'User', payments: { edges: [{ node: { id: `${id}'s payment` } }] } })),
      },
    });
    seen.sink?.next({ data: { paymentUpdated: { id: 'p1', user: { __typename: 'User', id: 'user-1' } } } });
    expect(await results.next()).toEqual({
      done: false,
      value: {
        data: {
          paymentUpdated: {
            id: 'p1',
            user: { auditTrail: { edges: [{ node: { actor: { payments: { edges: [{ node: { id: "admin-1's payment" } }] } } } }] } },
          },
        },
      },
    });
    await results.return();
  });

  it('ends, saying why, when an event is lost to the rest of its plan (auth down under the non-null `user`): it went on as if nothing had happened', async () => {
    const down: GraphQLDataSource = {
      process: () =>
        Promise.resolve({ errors: [{ message: 'The auth subgraph did not answer within 10000 ms', extensions: { code: 'SUBGRAPH_UNAVAILABLE' } }] }),
    };
    const { seen, results, registry } = harness({ document: parse('subscription { paymentUpdated { id user { email } } }'), dataSources: { auth: down } });
    seen.sink?.next({ data: { paymentUpdated: { id: 'p1', user: { __typename: 'User', id: 'user-1' } } } });
    const lost = await results.next();
    expect({ data: (lost.value as ExecutionResult).data, codes: codes(lost) }).toEqual({ data: null, codes: ['SUBGRAPH_UNAVAILABLE', 'SUBGRAPH_UNAVAILABLE'] });
    expect((lost.value as ExecutionResult).errors?.[1]?.message).toContain('was missed: subscribe again');
    expect(await results.next()).toEqual({ done: true, value: undefined });
    expect({ unsubscribed: seen.unsubscribed, released: seen.released }).toEqual({ unsubscribed: 1, released: 1 });
    expect((await registry.getSingleMetric('subscription_events_total')?.get())?.values.reduce((sum, { value }) => sum + value, 0) ?? 0).toBe(0);
    expect(await lostCounts(registry)).toEqual([{ value: 1, labels: { field: 'paymentUpdated', reason: 'event' } }]);
  });

  it("says among its errors, masked, why an event lost its data to a subgraph's null entity: it passed Apollo's `valueCompletion` on unmasked, naming schema types", async () => {
    // auth finds no such user (its replica has not replayed the sign-up, say): `user` is non-null.
    const missing: GraphQLDataSource = { process: () => Promise.resolve({ data: { _entities: [null] } }) };
    const { seen, results } = harness({ document: parse('subscription { paymentUpdated { id user { email } } }'), dataSources: { auth: missing } });
    seen.sink?.next({
      data: { paymentUpdated: { id: 'p1', user: { __typename: 'User', id: 'user-1' } } },
      extensions: { committedAt: '2026-12-07T00:00:00.000Z' },
    });
    const lost = (await results.next()).value as ExecutionResult;
    expect(lost.extensions).toEqual({ committedAt: '2026-12-07T00:00:00.000Z' });
    expect({ data: lost.data, errors: lost.errors?.map(({ message, extensions }) => ({ message, code: extensions.code })) }).toEqual({
      data: null,
      errors: [
        { message: 'Internal server error', code: 'INTERNAL_SERVER_ERROR' },
        { message: expect.stringContaining('was missed: subscribe again') as string, code: 'SUBGRAPH_UNAVAILABLE' },
      ],
    });
  });

  it('counts it lost when its subgraph ends it with events missed (its LISTEN connection lost, say), not when it ends it for rights', async () => {
    const missed = harness();
    missed.seen.sink?.next({
      errors: [
        { message: 'The payments service lost its connection to the database; events may have been missed', extensions: { code: 'SUBGRAPH_UNAVAILABLE' } },
      ],
    });
    missed.seen.sink?.complete();
    expect(codes(await missed.results.next())).toEqual(['SUBGRAPH_UNAVAILABLE']);
    expect(await missed.results.next()).toEqual({ done: true, value: undefined });
    expect(await lostCounts(missed.registry)).toEqual([{ value: 1, labels: { field: 'paymentUpdated', reason: 'subgraph' } }]);
    const forbidden = harness();
    forbidden.seen.sink?.next({ errors: [{ message: 'This account is suspended', extensions: { code: 'FORBIDDEN' } }] });
    forbidden.seen.sink?.complete();
    expect(codes(await forbidden.results.next())).toEqual(['FORBIDDEN']);
    expect(await lostCounts(forbidden.registry)).toEqual([]);
  });

  it('counts it lost once, when an event is lost to its plan after its subgraph went (it was counted under both reasons)', async () => {
    const missing: GraphQLDataSource = { process: () => Promise.resolve({ data: { _entities: [null] } }) };
    const { seen, results, registry } = harness({ document: parse('subscription { paymentUpdated { id user { email } } }'), dataSources: { auth: missing } });
    seen.sink?.next({ data: { paymentUpdated: { id: 'p1', user: { __typename: 'User', id: 'user-1' } } } });
    seen.sink?.error(new Error('connection lost'));
    await results.next();
    await results.next();
    expect(await lostCounts(registry)).toEqual([{ value: 1, labels: { field: 'paymentUpdated', reason: 'subgraph' } }]);
  });

  it('counts as sent only events, not a refusal the subgraph ends it with, and names its root field written in a fragment (it said "unknown")', async () => {
    const { seen, results, registry } = harness({
      document: parse('subscription { ...Watch } fragment Watch on Subscription { ... on Subscription { paymentUpdated { id status } } }'),
    });
    const count = async (name: string) => (await registry.getSingleMetric(name)?.get())?.values.map(({ value, labels }) => ({ value, labels }));
    expect(await count('subscriptions_active')).toEqual([{ value: 1, labels: { field: 'paymentUpdated' } }]);
    seen.sink?.next(event('p1'));
    expect(ids(await results.next())).toEqual({ paymentUpdated: { id: 'p1', status: 'PENDING' } });
    seen.sink?.next({ errors: [{ message: 'No payment with id p9', extensions: { code: 'NOT_FOUND' } }] });
    expect(codes(await results.next())).toEqual(['NOT_FOUND']);
    expect(await count('subscription_events_total')).toEqual([{ value: 1, labels: { field: 'paymentUpdated' } }]);
    await results.return();
  });

  it('ends with a masked internal error, never an exception, when it cannot start', async () => {
    const { seen, results } = harness({ planner: new SubscriptionPlanner() }); // no supergraph loaded
    const first = await results.next();
    expect((first.value as ExecutionResult).errors?.map((error) => error.message)).toEqual(['Internal server error']);
    expect(await results.next()).toEqual({ done: true, value: undefined });
    expect(seen.released).toBe(1);
  });
});
