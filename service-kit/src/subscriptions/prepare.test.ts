import { buildSchema } from 'graphql';
import { prepareSubscription, type PreparedSubscription, type Refusal } from './prepare';

const schema = buildSchema(`
  type Query { hello: String }
  type Subscription { updates(id: ID, tags: [[String]]): Int }
`);
const codesOf = (prepared: PreparedSubscription | Refusal) =>
  'refusal' in prepared ? prepared.refusal.errors?.map(({ extensions }) => extensions.code) : 'prepared';

describe('prepareSubscription', () => {
  it.each([
    ['a document that does not parse', { query: 'subscription {' }, 'GRAPHQL_PARSE_FAILED'],
    [
      'a root field skipped through a fragment',
      { query: 'subscription { ...U } fragment U on Subscription { updates @skip(if: true) }' },
      'GRAPHQL_VALIDATION_FAILED',
    ],
    [
      'a root field included by a variable',
      { query: 'subscription ($on: Boolean!) { updates @include(if: $on) }', variables: { on: true } },
      'GRAPHQL_VALIDATION_FAILED',
    ],
    ['a query', { query: '{ hello }' }, 'OPERATION_RESOLUTION_FAILURE'],
    ['an unnamed choice among operations', { query: 'subscription A { updates } subscription B { updates }' }, 'OPERATION_RESOLUTION_FAILURE'],
    ['text PostgreSQL cannot store', { query: 'subscription ($id: ID) { updates(id: $id) }', variables: { id: 'a\u0000b' } }, 'BAD_USER_INPUT'],
    [
      'a variable nested past 64 levels',
      { query: 'subscription ($id: ID) { updates(id: $id) }', variables: { id: JSON.parse(`${'['.repeat(65)}"x"${']'.repeat(65)}`) as unknown } },
      'BAD_USER_INPUT',
    ],
    ['a variable of the wrong type', { query: 'subscription ($id: ID) { updates(id: $id) }', variables: { id: { not: 'an id' } } }, 'BAD_USER_INPUT'],
  ])('refuses %s, with the code the HTTP endpoint would give', (_, payload, code) => {
    expect(codesOf(prepareSubscription(schema, payload, undefined))).toEqual([code]);
  });

  it('prepares a valid subscription with its root field and the headers the gateway sent, by lower-case name', () => {
    const prepared = prepareSubscription(
      schema,
      { query: 'subscription Mine { updates(id: "1") }', operationName: 'Mine', extensions: { headers: { Authorization: 'Bearer t', 'X-Request-Id': 7 } } },
      undefined,
    );
    expect(prepared).toMatchObject({
      operationName: 'Mine',
      field: { name: { value: 'updates' } },
      headers: { authorization: 'Bearer t', requestId: undefined },
    });
  });
});
