import { readFileSync } from 'node:fs';
import path from 'node:path';
import { GraphQLError } from 'graphql';
import { REPOSITORY_ROOT, ServiceMetrics, createLogger } from '@fedstack/runtime';
import { operationLimits } from '../limits';
import { PersistedDocuments } from '../persisted';
import { SubscriptionAdmission } from './admission';
import { SubscriptionPlanner } from './planner';

const SUPERGRAPH = readFileSync(path.join(REPOSITORY_ROOT, 'supergraph.graphql'), 'utf8');
const QUERY = 'subscription { paymentUpdated { id status user { email } } }';

describe('admitting subscriptions', () => {
  const planner = new SubscriptionPlanner();
  planner.load(SUPERGRAPH);
  const limits = operationLimits({ maxDepth: 12, maxAliases: 30, maxDirectives: 20, maxTokens: 3000, maxCost: 20_000 });
  limits.supergraphLoaded(SUPERGRAPH);
  const documents = new PersistedDocuments(
    { mode: 'off', files: [], pollMs: 60_000 },
    new ServiceMetrics({ service: 'gateway' }),
    createLogger('test', 'silent'),
  );
  const admissionWith = (
    hideSuggestions: boolean,
    execute: ConstructorParameters<typeof SubscriptionAdmission>[0]['execute'] = () => Promise.reject(new Error('not used here')),
    maxUpstreamBytes = 100_000,
  ) =>
    new SubscriptionAdmission({
      execute,
      planner,
      limits,
      documents,
      maxTokens: 3000,
      maxPerConnection: 5,
      maxPerUser: 5,
      maxConnectionsPerUser: 2,
      maxUpstreamBytes,
      hideSuggestions,
    });
  const admission = admissionWith(false);
  const admitted = (query: string) => {
    const result = admission.prepare({ query });
    if (Array.isArray(result)) throw new Error(`refused: ${result.map((error) => error.message).join('; ')}`);
    return result;
  };

  it('refuses, as OPERATION_TOO_COMPLEX, a subscription whose plan is over what a subgraph takes once each fragment is written out where it is spread', () => {
    // A fragment reaching another subgraph (the user's e-mail, auth's) is written out at each of its spreads
    // in payments' operation: three times the long alias the client sent once.
    const alias = 'x'.repeat(400);
    const query = `subscription { paymentUpdated { ...P user { payments(first: 1) { edges { node { ...P user { payments(first: 1) { edges { node { ...P } } } } } } } } } }
      fragment P on Payment { ${alias}: id user { email } }`;
    expect(query.length).toBeLessThan(1000);
    const limited = admissionWith(false, undefined, 1000);
    const refused = limited.prepare({ query });
    expect(Array.isArray(refused) && refused.map((error) => [error.extensions.code, error.message])).toEqual([
      [
        'OPERATION_TOO_COMPLEX',
        expect.stringMatching(
          /^This subscription, as the gateway must send it on to a subgraph \(each fragment written out where it is spread\), is \d+ bytes, over the 1000 a subgraph takes/,
        ),
      ],
    ]);
    expect(Array.isArray(limited.prepare({ query: `subscription { paymentUpdated { ${alias}: id user { email } } }` }))).toBe(false);
    // Measured as it is sent, JSON: a quote written in a string literal (`\"`) takes four bytes there.
    const byId = (quotes: number) => limited.prepare({ query: `subscription { paymentUpdated(id: "${'\\"'.repeat(quotes)}") { id } }` });
    expect(Array.isArray(byId(150))).toBe(false);
    const quoted = byId(300);
    expect(Array.isArray(quoted) && quoted.map((error) => error.extensions.code)).toEqual(['OPERATION_TOO_COMPLEX']);
  });

  it('gives every subscriber of one document the same parsed document, and so one query plan', () => {
    const first = admitted(QUERY);
    const second = admitted(QUERY);
    expect(second.document).toBe(first.document);
    expect(planner.plan(second.document, undefined)).toBe(planner.plan(first.document, undefined));
    expect(admitted('subscription { paymentUpdated { id } }').document).not.toBe(first.document);
  });

  it("counts each user's connections up to the limit, and each place given back once", () => {
    const alice = { userId: 'alice', role: 'USER', authorization: 'Bearer a' };
    const [first, second] = [admission.connect(alice), admission.connect(alice)];
    expect(admission.connect(alice)).toBeUndefined();
    expect(admission.connect({ ...alice, userId: 'bob' })).toBeDefined();
    first?.();
    first?.();
    const third = admission.connect(alice);
    expect(third).toBeDefined();
    expect(admission.connect(alice)).toBeUndefined();
    second?.();
    third?.();
  });

  it("refuses a subscriber auth could not be asked about with SUBGRAPH_UNAVAILABLE naming the subgraph, as a query's error does (serviceName was dropped)", async () => {
    const down = admissionWith(true, () =>
      Promise.resolve({
        errors: [new GraphQLError('The auth subgraph did not answer within 10000 ms', { extensions: { code: 'SUBGRAPH_UNAVAILABLE', serviceName: 'auth' } })],
      }),
    );
    const refused = await down.identify('Bearer a.b.c', {
      requestId: 'r1',
      authorization: undefined,
      clientAddress: undefined,
      userAgent: undefined,
      logger: createLogger('test', 'silent'),
    });
    expect({ message: (refused as Error).message, extensions: (refused as { extensions?: unknown }).extensions }).toEqual({
      message: 'The auth subgraph did not answer within 10000 ms',
      extensions: { code: 'SUBGRAPH_UNAVAILABLE', serviceName: 'auth' },
    });
  });

  it('suggests fields only where the schema is not kept to itself (outside production)', () => {
    const messages = (hide: boolean) => {
      const refused = admissionWith(hide).prepare({ query: 'subscription { paymentUpdated { stauts } }' });
      return Array.isArray(refused) ? refused.map((error) => error.message) : [];
    };
    expect(messages(false)).toEqual([expect.stringContaining('Did you mean "status"?')]);
    expect(messages(true)).toEqual(['Cannot query field "stauts" on type "Payment".']);
  });

  it("refuses an operation over the limits without the HTTP status, which a stream's errors do not carry", () => {
    const deep = `subscription { paymentUpdated { ${'user { payments(first: 1) { edges { node { '.repeat(3)}id${' } } } }'.repeat(3)} } }`;
    const refused = admission.prepare({ query: deep });
    expect(Array.isArray(refused) && refused.map((error) => error.extensions)).toEqual([{ code: 'OPERATION_TOO_COMPLEX', limit: 'depth', max: 12 }]);
  });

  it('keeps refusing an invalid document, and validates again on a reloaded supergraph', () => {
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const refused = admission.prepare({ query: 'subscription { paymentUpdated { nope } }' });
      expect(Array.isArray(refused) && refused[0]?.extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
    }
    const before = admitted(QUERY).document;
    planner.load(SUPERGRAPH);
    expect(admitted(QUERY).document).not.toBe(before);
  });
});
