import { buildSchema, parse } from 'graphql';
import { validateSubscriptionDocument } from './subscription-validation';

const schema = buildSchema(`
  type Query { hello: String }
  type Subscription { ticks: Int, tocks: Int }
`);
const errorsOf = (source: string) => validateSubscriptionDocument(schema, parse(source)).map(({ message }) => message);
const CONDITIONAL = "A subscription's root field cannot be skipped or included conditionally (@skip, @include)";

describe('validateSubscriptionDocument', () => {
  it.each([
    ['a literal on the root field', 'subscription { ticks @skip(if: true) }'],
    ['a variable on the root field', 'subscription ($on: Boolean!) { ticks @include(if: $on) }'],
    ['a field inside an inline fragment', 'subscription { ... on Subscription { ticks @skip(if: false) } }'],
    ['the inline fragment itself', 'subscription ($on: Boolean!) { ... @include(if: $on) { ticks } }'],
    ['a field inside a named fragment', 'subscription { ...T } fragment T on Subscription { ticks @skip(if: true) }'],
    [
      'a field in a fragment a fragment spreads',
      'subscription ($off: Boolean!) { ...T } fragment T on Subscription { ...U } fragment U on Subscription { ticks @skip(if: $off) }',
    ],
    ['the spread itself', 'subscription { ...T @include(if: true) } fragment T on Subscription { ticks }'],
  ])('refuses a root field made conditional by %s', (_, source) => {
    expect(errorsOf(source)).toEqual([CONDITIONAL]);
  });

  it('allows conditions below the root field and in queries', () => {
    expect(errorsOf('query { hello @skip(if: true) }')).toEqual([]);
    expect(errorsOf('subscription { ticks }')).toEqual([]);
  });

  it("reports graphql-js's errors, a cyclic fragment among them, without throwing", () => {
    expect(errorsOf('subscription { ticks tocks }')).toEqual(['Anonymous Subscription must select only one top level field.']);
    expect(errorsOf('subscription { ...T } fragment T on Subscription { ...T }')).toEqual(['Cannot spread fragment "T" within itself.']);
    expect(errorsOf('subscription { nope }')).toEqual(['Cannot query field "nope" on type "Subscription".']);
  });

  it('hides suggestions when asked', () => {
    expect(validateSubscriptionDocument(schema, parse('subscription { tick }'), { hideSuggestions: true }).map(({ message }) => message)).toEqual([
      'Cannot query field "tick" on type "Subscription".',
    ]);
    expect(errorsOf('subscription { tick }')[0]).toMatch(/Did you mean "ticks"/);
  });
});
