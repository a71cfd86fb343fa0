import { buildSchema, parse, type OperationDefinitionNode } from 'graphql';
import { measureOperation } from './limits';

const schema = buildSchema(`
  type Query { users(first: Int): UserConnection! me: User }
  type UserConnection { edges: [UserEdge!]! }
  type UserEdge { node: User! }
  type User { id: ID! email: String! friends: [User!]! payments(first: Int): PaymentConnection }
  type PaymentConnection { edges: [PaymentEdge!]! }
  type PaymentEdge { node: Payment! }
  type Payment { amount: String! }
`);

function measure(query: string, variables: Record<string, unknown> = {}) {
  const document = parse(query);
  return measureOperation(schema, document, document.definitions[0] as OperationDefinitionNode, variables);
}

describe('operation measures', () => {
  it('counts depth through fragments and inline fragments', () => {
    expect(measure('{ me { id } }').depth).toBe(2);
    expect(measure('query { me { ...F } } fragment F on User { friends { ... on User { friends { id } } } }').depth).toBe(4);
  });

  it('counts aliases and directives, in fragments too', () => {
    const result = measure('query ($s: Boolean!) { a: me { id } b: me { ...F @include(if: $s) } } fragment F on User { c: id @skip(if: false) }', { s: true });
    expect(result.aliases).toBe(3);
    expect(result.directives).toBe(2);
  });

  it('weights fields by page sizes, from literals or variables, and by assumed list sizes', () => {
    expect(measure('{ users(first: 10) { edges { node { id } } } }').cost).toBe(1 + 10 * 3);
    expect(measure('query ($n: Int) { users(first: $n) { edges { node { id } } } }', { n: 100 }).cost).toBe(1 + 100 * 3);
    expect(measure('{ users { edges { node { id } } } }').cost).toBe(1 + 20 * 3);
    expect(measure('query ($n: Int = 200) { users(first: $n) { edges { node { id } } } }').cost).toBe(1 + 200 * 3);
    expect(measure('{ me { friends { id } } }').cost).toBe(1 + 1 + 10);
    expect(measure('{ users(first: 2) { edges { node { payments(first: 5) { edges { node { amount } } } } } } }').cost).toBe(1 + 2 * 3 + 2 * 5 * 3);
  });

  it('leaves introspection to the introspection setting', () => {
    expect(measure('{ __schema { types { fields { type { ofType { ofType { name } } } } } } }')).toEqual({ depth: 1, aliases: 0, directives: 0, cost: 0 });
  });
});
