import { Kind, buildSchema, getOperationAST, parse, type OperationDefinitionNode } from 'graphql';
import { scalarResolvers } from './scalars';
import { MAX_ARGUMENT_DEPTH, checkOperationText, withTextRule } from './text';

const schema = buildSchema(`
  directive @note(text: String) on FIELD
  input Filter { prefix: String, tags: [String!] }
  type User { name(style: String): String }
  type Query { users(filter: Filter, after: String): [User!]! }
`);

/** What the rule says of `source` with `variables`: the refusal's field and message, or null. */
function verdict(source: string, variables: Record<string, unknown> = {}, limits = {}): { field: unknown; message: string } | null {
  const document = parse(source);
  try {
    checkOperationText(schema, document, getOperationAST(document) as OperationDefinitionNode, variables, limits);
    return null;
  } catch (error) {
    return { field: (error as { extensions: { field: unknown } }).extensions.field, message: (error as Error).message };
  }
}

describe('the text rule, over an operation as the client sent it', () => {
  it.each([
    ['a literal inside an input object', '{ users(filter: { prefix: "a\\u0000" }) { __typename } }', {}, 'filter.prefix'],
    ['a variable inside an input object', 'query ($p: String) { users(filter: { prefix: $p }) { __typename } }', { p: '\ud800' }, 'filter.prefix'],
    ['a variable inside a list', 'query ($t: String!) { users(filter: { tags: ["ok", $t] }) { __typename } }', { t: 'x\u0000' }, 'filter.tags[1]'],
    ['a whole input object as a variable', 'query ($f: Filter) { users(filter: $f) { __typename } }', { f: { tags: ['ok', 'x\udfff'] } }, 'filter.tags[1]'],
    ['a variable left to its default', 'query ($a: String = "\\u0000") { users(after: $a) { __typename } }', {}, 'after'],
    ['a field in a fragment', '{ users { ...F } } fragment F on User { name(style: "\\u0000") }', {}, 'style'],
    ['a directive', '{ users { name @note(text: "\\u0000") } }', {}, 'text'],
  ])('refuses unstorable text in %s, naming where it is', (_label, source, variables, field) => {
    expect(verdict(source, variables)).toEqual({ field, message: expect.stringMatching(/NUL|surrogate/) });
  });

  it('counts length against the limit the field gives its argument path, in code points', () => {
    const source = 'query ($p: String) { users(filter: { prefix: $p }) { __typename } }';
    const limits = { 'Query.users': { 'filter.prefix': 3 } };
    expect(verdict(source, { p: '𝕏𝕏𝕏' }, limits)).toBeNull();
    expect(verdict(source, { p: 'abcd' }, limits)).toEqual({ field: 'filter.prefix', message: 'filter.prefix: must be at most 3 characters (got 4)' });
    expect(verdict(source, { p: 'x'.repeat(1001) })).toEqual({ field: 'filter.prefix', message: 'filter.prefix: must be at most 1000 characters (got 1001)' });
  });

  it('refuses lists and objects nested past MAX_ARGUMENT_DEPTH as bad input, where 2,000 deep overflowed the stack', () => {
    const nested = (depth: number): unknown => (depth === 0 ? 'x' : [nested(depth - 1)]);
    const source = 'query ($f: Filter) { users(filter: $f) { __typename } }';
    expect(verdict(source, { f: { tags: nested(2000) } })).toEqual({
      field: expect.stringMatching(/^filter\.tags(\[0\]){63}$/),
      message: expect.stringContaining(`must not nest lists and objects more than ${MAX_ARGUMENT_DEPTH} deep`),
    });
    expect(verdict(source, { f: { tags: nested(MAX_ARGUMENT_DEPTH - 2) } })).toBeNull();
  });

  it('takes text every service can store, and ignores variables no argument uses', () => {
    expect(verdict('query ($p: String) { users(filter: { prefix: $p }) { name } }', { p: "é'; --%_", unused: '\u0000' })).toBeNull();
  });

  it("leaves a custom scalar's literal the rule refuses to the rule, and checks every other as the scalar does", () => {
    const { EmailAddress } = withTextRule({ EmailAddress: scalarResolvers.EmailAddress });
    const literal = (value: string) => EmailAddress.parseLiteral({ kind: Kind.STRING, value }, {});
    expect(literal('a\u0000@example.com')).toBe('a\u0000@example.com');
    expect(literal('ann@example.com')).toBe('ann@example.com');
    expect(() => literal('not an address')).toThrow();
  });
});
