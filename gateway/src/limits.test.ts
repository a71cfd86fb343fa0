import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { GraphQLRequestContextDidResolveOperation, GraphQLRequestListener, GraphQLServerListener } from '@apollo/server';
import { GraphQLError, buildSchema, parse, validate, type DocumentNode, type OperationDefinitionNode } from 'graphql';
import type * as graphql from 'graphql';
import { REPOSITORY_ROOT } from '@fedstack/runtime';
import { costModelOf, operationCost, operationLimits, operationLimitsPlugin, type FieldCost } from './limits';

// Counts validation passes (the limits' rules run in one) while keeping graphql's own validate.
jest.mock('graphql', () => {
  const actual = jest.requireActual<typeof graphql>('graphql');
  return { ...actual, validate: jest.fn(actual.validate) };
});

const SDL = `
  directive @cost(weight: Int!) on FIELD_DEFINITION
  directive @listSize(assumedSize: Int, slicingArguments: [String!], sizedFields: [String!], requireOneSlicingArgument: Boolean = true) on FIELD_DEFINITION
  type Query {
    users(first: Int): UserConnection! @listSize(slicingArguments: ["first"], sizedFields: ["edges"], requireOneSlicingArgument: false, assumedSize: 20)
    me: User
  }
  type Mutation { login(email: String!): User @cost(weight: 100) rename(name: String!): User }
  type UserConnection { edges: [UserEdge!]! }
  type UserEdge { node: User! }
  type User {
    id: ID!
    email: String!
    friends: [User!]! @listSize(assumedSize: 10)
    tags: [String!]!
    payments(first: Int): PaymentConnection @listSize(slicingArguments: ["first"], sizedFields: ["edges"], requireOneSlicingArgument: false, assumedSize: 20)
  }
  type PaymentConnection { edges: [PaymentEdge!]! }
  type PaymentEdge { node: Payment! }
  type Payment { amount: String! }
`;
const schema = buildSchema(SDL);
const model = costModelOf(SDL);

function cost(query: string, variables: Record<string, unknown> = {}) {
  const document = parse(query);
  return operationCost(schema, model, document, document.definitions[0] as OperationDefinitionNode, variables);
}

describe('operation cost from @cost and @listSize', () => {
  it('reads the directives of every field', () => {
    expect(model.get('Query.users')).toEqual({ assumedSize: 20, slicingArguments: ['first'], sizedFields: ['edges'] });
    expect(model.get('Mutation.login')).toEqual({ weight: 100 });
    expect(model.get('User.friends')).toEqual({ assumedSize: 10 });
    expect(model.has('User.email')).toBe(false);
  });

  it('costs objects 1 and leaves 0, a list its size times each item, a connection its slice', () => {
    expect(cost('{ me { id email } }')).toBe(1);
    // users 1 + edges (10 × (edge 1 + node 1)).
    expect(cost('{ users(first: 10) { edges { node { id } } } }')).toBe(1 + 10 * 2);
    expect(cost('query ($n: Int) { users(first: $n) { edges { node { id } } } }', { n: 100 })).toBe(1 + 100 * 2);
    expect(cost('{ users { edges { node { id } } } }')).toBe(1 + 20 * 2);
    expect(cost('query ($n: Int = 200) { users(first: $n) { edges { node { id } } } }')).toBe(1 + 200 * 2);
    // A list of scalars costs nothing; a list of objects its assumed size.
    expect(cost('{ me { tags friends { id } } }')).toBe(1 + 10 * 1);
    expect(cost('{ users(first: 2) { edges { node { payments(first: 5) { edges { node { amount } } } } } } }')).toBe(1 + 2 * (1 + 1 + (1 + 5 * 2)));
  });

  it('weights mutations 10 unless @cost says otherwise', () => {
    expect(cost('mutation { rename(name: "x") { id } }')).toBe(10);
    expect(cost('mutation { a: login(email: "a") { id } b: login(email: "b") { id } }')).toBe(200);
  });

  it('prices fragments like the fields they spread, and leaves introspection to its setting', () => {
    expect(cost('{ me { ...F } } fragment F on User { friends { ... on User { friends { id } } } }')).toBe(1 + 10 * (1 + 10 * 1));
    expect(cost('{ __schema { types { fields { name } } } }')).toBe(0);
  });

  it('walks each fragment once however often it is spread (fragments spreading the next 60 times, 5 deep, took minutes: 60⁵ walks)', () => {
    // Counts the fields looked at, by the cost model's lookups.
    const counted = new (class extends Map<string, FieldCost> {
      lookups = 0;
      override get(key: string) {
        this.lookups += 1;
        return super.get(key);
      }
    })(model);
    const spreads = (name: string) => Array.from({ length: 8 }, () => `...${name}`).join(' ');
    const tower = ['F1', 'F2', 'F3', 'F4'].map((next, level) => `fragment F${level} on Query { ${spreads(next)} }`).join(' ');
    const document = parse(`{ ${spreads('F0')} } ${tower} fragment F4 on Query { me { id } }`);
    expect(operationCost(schema, counted, document, document.definitions[0] as OperationDefinitionNode, {})).toBe(8 ** 5);
    expect(counted.lookups).toBe(2);
    // A parent's size carried down to a fragment is part of what its cost depends on.
    expect(cost('{ a: users(first: 2) { ...E } b: users(first: 3) { ...E } } fragment E on UserConnection { edges { node { id } } }')).toBe(
      1 + 2 * 2 + 1 + 3 * 2,
    );
  });

  it('finds the directives in the committed supergraph, as composition carried them from the subgraphs', () => {
    const supergraph = costModelOf(readFileSync(path.join(REPOSITORY_ROOT, 'supergraph.graphql'), 'utf8'));
    expect(supergraph.get('Query.users')).toMatchObject({ slicingArguments: ['first'], sizedFields: ['edges'] });
    expect(supergraph.get('User.payments')).toMatchObject({ slicingArguments: ['first'], sizedFields: ['edges'] });
    expect(supergraph.get('Mutation.login')).toEqual({ weight: 15000 });
    expect(supergraph.get('Payment.refunds')).toEqual({ assumedSize: 10 });
  });
});

describe('operationLimitsPlugin', () => {
  /** The plugin as Apollo Server drives it: started on a schema, then one request per call to `resolve`. */
  async function plugin() {
    const limits = operationLimitsPlugin(operationLimits({ maxDepth: 3, maxAliases: 2, maxDirectives: 5, maxTokens: 1000, maxCost: 1000 }));
    const server = (await limits.serverWillStart?.({} as never)) as GraphQLServerListener;
    server.schemaDidLoadOrUpdate?.({ apiSchema: schema, coreSupergraphSdl: SDL });
    return async (document: DocumentNode) => {
      const request = (await limits.requestDidStart?.({} as never)) as GraphQLRequestListener<never>;
      const operation = document.definitions[0] as OperationDefinitionNode;
      return request.didResolveOperation?.({
        schema,
        document,
        operation,
        request: { variables: {} },
      } as unknown as GraphQLRequestContextDidResolveOperation<never>);
    };
  }

  beforeEach(() => jest.mocked(validate).mockClear());

  it('checks a document against its rules once, however many requests send it', async () => {
    const resolve = await plugin();
    const document = parse('{ me { id email } }');
    for (let request = 0; request < 5; request += 1) await resolve(document);
    expect(jest.mocked(validate)).toHaveBeenCalledTimes(1);
  });

  it('counts the depth of a query written with fragments as if written inline (each spread counted as levels)', async () => {
    const resolve = await plugin();
    // Depth 3, the limit, in colocated fragments (it was read as 5 and refused).
    await expect(resolve(parse('{ me { ...A } } fragment A on User { friends { ...B } } fragment B on User { ... on User { id } }'))).resolves.toBeUndefined();
    await expect(resolve(parse('{ me { ...A } } fragment A on User { friends { ...B } } fragment B on User { friends { id } }'))).rejects.toMatchObject({
      message: 'Operation refused: Query depth limit of 3 exceeded, found 4.',
    });
  });

  it('refuses a document over a limit every time, with an error of its own each time', async () => {
    const resolve = await plugin();
    const document = parse('{ me { friends { friends { friends { id } } } } }');
    const first = await resolve(document).catch((error: unknown) => error);
    const second = await resolve(document).catch((error: unknown) => error);
    expect(first).toBeInstanceOf(GraphQLError);
    expect(second).toBeInstanceOf(GraphQLError);
    expect(second).not.toBe(first);
    expect((second as GraphQLError).extensions).toMatchObject({ code: 'OPERATION_TOO_COMPLEX', limit: 'depth', max: 3 });
    expect((second as GraphQLError).message).toBe((first as GraphQLError).message);
    expect(jest.mocked(validate)).toHaveBeenCalledTimes(1);
  });
});
