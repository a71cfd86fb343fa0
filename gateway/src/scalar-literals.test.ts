import { type GraphQLError, buildSchema, parse, validate } from 'graphql';
import { scalarLiterals } from './scalar-literals';

describe('lists and objects written where a scalar is expected', () => {
  const schema = buildSchema(`
    scalar EmailAddress
    input Login { email: EmailAddress!, tags: [String!] }
    type Query { login(input: Login!, also: [EmailAddress!], count: Int): Boolean }
  `);
  const refusedIn = (query: string): string[] => {
    const refused: GraphQLError[] = [];
    expect(validate(schema, parse(query), [scalarLiterals((error) => refused.push(error))])).toEqual([]);
    return refused.map((error) => `${error.extensions.code as string}: ${error.message}`);
  };

  it('are refused as bad input, in an argument, a list, an input object or a variable default', () => {
    expect(
      refusedIn(`
        query ($e: EmailAddress = ["a@b.co"], $l: [EmailAddress!] = { x: [[["a@b.co"]]] }) {
          a: login(input: { email: [[["a@b.co"]]] })
          b: login(input: { email: { x: 1 } })
          c: login(input: { email: "a@b.co" }, also: [["a@b.co"]])
          d: login(input: { email: $e })
          e: login(input: { email: "a@b.co" }, also: { x: [[["a@b.co"]]] })
          f: login(input: { email: "a@b.co" }, also: $l)
        }
      `),
    ).toEqual([
      'BAD_USER_INPUT: EmailAddress takes a single value, written as a string or a number: a list was written in its place',
      // An object where a list of the scalar goes: graphql-js follows no type inside it, so its lists went unseen.
      'BAD_USER_INPUT: EmailAddress takes a single value, written as a string or a number: an object was written in its place',
      'BAD_USER_INPUT: EmailAddress takes a single value, written as a string or a number: a list was written in its place',
      'BAD_USER_INPUT: EmailAddress takes a single value, written as a string or a number: an object was written in its place',
      'BAD_USER_INPUT: EmailAddress takes a single value, written as a string or a number: a list was written in its place',
      'BAD_USER_INPUT: EmailAddress takes a single value, written as a string or a number: an object was written in its place',
    ]);
  });

  it("leave alone lists and objects where the schema takes them, and the specified scalars (graphql-js's own validation judges those)", () => {
    expect(refusedIn('{ login(input: { email: "a@b.co", tags: ["x", "y"] }, also: ["a@b.co", "c@d.co"], count: 1) }')).toEqual([]);
  });

  it('refuses a list nested a thousand deep at once (the query planner took hours over forty)', () => {
    const deep = `${'['.repeat(1000)}"a@b.co"${']'.repeat(1000)}`;
    expect(refusedIn(`{ login(input: { email: ${deep} }) }`)).toHaveLength(1);
  });
});
