import { randomUUID } from 'node:crypto';
import { buildClientSchema, getIntrospectionQuery, type GraphQLSchema, type IntrospectionQuery } from 'graphql';
import { DEMO_ADMIN } from '@fedstack/shared-db';
import { graphql, type GraphQLResponse } from '@fedstack/service-kit/testing';
import { everyCase, type Case } from './hostile-cases';
import { startStack, type RunningStack, type SubgraphName } from './stack';

// Every string argument of every operation a client can send, read from the schema itself (so a new
// argument is covered without anyone adding it here), in every form a client can send it (a variable,
// written in the document, a variable inside an object written there; in custom scalars and JSON too),
// tried with hostile strings through the gateway and directly at each subgraph (whose own schema adds
// `_entities`): none may end in INTERNAL_SERVER_ERROR, and text PostgreSQL cannot hold is BAD_USER_INPUT
// naming the argument.

/** Text no service can store: refused, naming the argument. */
const UNSTORABLE = ['\u0000', 'before\u0000after', '\ud800', 'x\udfffy', 'ok\ud83d'];
/**
 * Text that is odd but storable, or too long: never an internal error. One of each kind a service could
 * trip on (LIKE's wildcards and escape, lengths in characters, bytes and UTF-16 units, invisible and
 * control characters, SQL and JSON look-alikes, a date and a token where strings are parsed); web
 * payloads that only a file path or an HTML page would care about are left out, neither being here.
 */
const ODD = [
  '',
  ' ',
  'a'.repeat(3000),
  'é'.repeat(9000),
  "'; DROP TABLE auth.users; --",
  '\\',
  '%_%',
  '\u202e\u2066reversed',
  '\u200b',
  '𝕏'.repeat(300),
  '\r\n\t',
  '{"$gt":""}',
  'null',
  '0000-01-01T00:00:00Z',
  'eyJhbGciOiJub25lIn0.e30.',
];

/** Operations that would end the admin's own sign-in or account, which the rest of the table needs. */
const SKIPPED = new Set(['Mutation.logoutEverywhere', 'Mutation.changePassword']);
const SUBGRAPHS: SubgraphName[] = ['auth', 'profile', 'payments', 'admin'];
/** A lone surrogate cannot be written in a GraphQL document at all: its grammar refuses it (GRAPHQL_PARSE_FAILED). */
const WELL_FORMED = (value: string) => !/\p{Surrogate}/u.test(value);

/** Sends every case, a few at a time, and returns what each answered. */
async function send(url: string, token: string, cases: Case[]): Promise<{ entry: Case; answer: GraphQLResponse }[]> {
  const answers: { entry: Case; answer: GraphQLResponse }[] = [];
  const queue = [...cases];
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let entry = queue.shift(); entry; entry = queue.shift()) {
        answers.push({ entry, answer: await graphql(url, entry.query, { token, variables: entry.variables }) });
      }
    }),
  );
  return answers;
}

const codesOf = (answer: GraphQLResponse) => (answer.errors ?? []).map((error) => String(error.extensions?.code));
const shown = (answer: GraphQLResponse) => JSON.stringify(answer.errors ?? answer.data).slice(0, 300);

describe('hostile strings in every string argument', () => {
  let stack: RunningStack;
  let schema: GraphQLSchema;
  const subgraphSchemas = {} as Record<SubgraphName, GraphQLSchema>;
  let token: string;
  let adminId: string;
  const introspect = async (url: string) => buildClientSchema((await graphql<IntrospectionQuery>(url, getIntrospectionQuery())).data as IntrospectionQuery);
  const me = (inner: string) => `me { ${inner} }`;
  const entity = (inner: string) => `_entities(representations: [{ __typename: "User", id: ${JSON.stringify(adminId)} }]) { ... on User { ${inner} } }`;

  beforeAll(async () => {
    // The table fails hundreds of sign-ins on purpose; the throttle must not turn them all into RATE_LIMITED.
    stack = await startStack(
      {},
      { LOGIN_MAX_FAILURES_PER_ADDRESS: '100000', LOGIN_MAX_FAILURES_PER_ACCOUNT: '10000', LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS: '1000' },
    );
    schema = await introspect(stack.gatewayUrl);
    for (const name of SUBGRAPHS) subgraphSchemas[name] = await introspect(stack.subgraphUrls[name]);
    const signIn = await graphql<{ login: { accessToken: string; user: { id: string } } }>(
      stack.gatewayUrl,
      'mutation ($email: EmailAddress!, $password: String!) { login(input: { email: $email, password: $password }) { accessToken user { id } } }',
      { variables: { email: DEMO_ADMIN.email, password: DEMO_ADMIN.password } },
    );
    token = signIn.data?.login.accessToken as string;
    adminId = signIn.data?.login.user.id as string;
  });
  afterAll(() => stack.stop());

  /** Where each case goes: the gateway, with the composed schema, and each subgraph with its own. */
  const targets = (values: readonly string[]) => [
    { name: 'gateway', url: stack.gatewayUrl, cases: everyCase(schema, values, me, SKIPPED) },
    ...SUBGRAPHS.map((name) => ({ name, url: stack.subgraphUrls[name], cases: everyCase(subgraphSchemas[name], values, entity, SKIPPED) })),
  ];

  it('covers every string argument the schemas have, by reading them, in every form', () => {
    const labels = new Set(targets(['x']).flatMap(({ name, cases }) => cases.map((entry) => `${name} ${entry.label.replace(' ← "x"', '')}`)));
    // A sample of what must be there; the rest follows from the schemas.
    for (const expected of [
      'gateway Query.users(filter.emailPrefix) [variables]',
      'gateway Query.users(filter.emailPrefix) [literal]',
      'gateway Query.users(filter.emailPrefix) [nested variable]',
      'gateway Mutation.updateMyProfile(input.displayName) [literal]',
      'gateway Mutation.updateMyProfile(input.displayName) [nested variable]',
      'gateway Mutation.createPayment(input.description) [variables]',
      'gateway Mutation.createPayment(input.amount) [literal]',
      'gateway Mutation.register(input.email) [nested variable]',
      'gateway Mutation.refundPayment(input.reason) [variables]',
      'gateway Mutation.suspendUser(reason) [literal]',
      'gateway Query.auditLog(filter.targetId) [variables]',
      'gateway Query.auditLog(filter.from) [literal]',
      'gateway Mutation.createPayment(idempotencyKey) [variables]',
      'gateway User.payments(after) [literal]',
      'auth Query.users(filter.emailPrefix) [literal]',
      'profile Mutation.updateMyProfile(input.displayName) [nested variable]',
      'payments Query._entities(representations[0].id) [literal]',
      'payments User.payments(after) [variables]',
      'admin User.auditTrail(after) [literal]',
    ]) {
      expect(labels).toContain(expected);
    }
    expect(labels.size).toBeGreaterThan(150);
  });

  it('refuses text no service can store as BAD_USER_INPUT naming the argument, everywhere, in every form', async () => {
    const failures: string[] = [];
    for (const { name, url, cases } of targets(UNSTORABLE)) {
      for (const { entry, answer } of await send(url, token, cases)) {
        const unwritable = entry.form === 'literal' && !WELL_FORMED(entry.value);
        const codes = codesOf(answer);
        const refused = answer.errors?.find((error) => error.extensions?.code === 'BAD_USER_INPUT');
        const expected = unwritable ? codes.includes('GRAPHQL_PARSE_FAILED') : refused?.extensions?.field === entry.field;
        if (!expected || codes.includes('INTERNAL_SERVER_ERROR')) failures.push(`${name} ${entry.label}: ${shown(answer)}`);
      }
    }
    expect(failures).toEqual([]);
  }, 600_000);

  it('answers odd, long or injected text without an internal error anywhere, as a variable and written in the document', async () => {
    const failures: string[] = [];
    for (const { name, url, cases } of targets(ODD)) {
      // Through the gateway as a variable and written in the document (which the gateway prints again
      // for the subgraphs, escapes and all); straight to a subgraph as variables only (its `_entities`
      // too, which the gateway always sends as variables). A variable inside an object written in the
      // document reaches a service as the same string a variable does, so for text a service can store
      // it adds nothing here; text no service can store is still sent everywhere in every form (above).
      // This table is the suite's costliest file: each form is a few hundred requests.
      const sent = cases.filter((entry) => entry.form === 'variables' || (name === 'gateway' && entry.form === 'literal'));
      for (const { entry, answer } of await send(url, token, sent)) {
        if (codesOf(answer).includes('INTERNAL_SERVER_ERROR')) failures.push(`${name} ${entry.label}: ${shown(answer)}`);
      }
    }
    expect(failures).toEqual([]);
  }, 600_000);

  it('refuses e-mails over 254 characters as BAD_USER_INPUT before any query', async () => {
    for (const length of [3000, 9000]) {
      const email = `${'k'.repeat(length)}@example.com`;
      for (const mutation of ['register', 'login']) {
        const answer = await graphql(
          stack.gatewayUrl,
          `mutation ($email: EmailAddress!) { ${mutation}(input: { email: $email, password: "long enough password 1" }) { accessToken } }`,
          {
            variables: { email },
          },
        );
        expect({ mutation, length, codes: (answer.errors ?? []).map((error) => error.extensions?.code) }).toEqual({
          mutation,
          length,
          codes: ['BAD_USER_INPUT'],
        });
      }
    }
  });

  it('refuses a representation without an id, or whose id is not text, as BAD_USER_INPUT at each subgraph that extends User', async () => {
    const query = 'query ($r: [_Any!]!) { _entities(representations: $r) { ... on User { id } } }';
    for (const name of ['profile', 'payments', 'admin'] as const) {
      for (const representation of [{ __typename: 'User' }, { __typename: 'User', id: { a: 1 } }, { __typename: 'User', id: 7 }]) {
        const answer = await graphql(stack.subgraphUrls[name], query, { token, variables: { r: [representation] } });
        expect({ name, representation, codes: codesOf(answer) }).toEqual({ name, representation, codes: ['BAD_USER_INPUT'] });
      }
    }
  });

  it('refuses forged cursors and dates outside years 1 to 9999 as BAD_USER_INPUT', async () => {
    const cursor = (iso: string) => Buffer.from(JSON.stringify([iso, randomUUID()])).toString('base64url');
    const forged = ['+275760-09-13T00:00:00.000Z', '0000-01-01T00:00:00.000Z', '-000001-01-01T00:00:00.000Z'].map(cursor);
    const lists = [
      'query ($after: String) { me { payments(first: 1, after: $after) { edges { cursor } } } }',
      'query ($after: String) { users(first: 1, after: $after) { edges { cursor } } }',
      'query ($after: String) { auditLog(first: 1, after: $after) { edges { cursor } } }',
      'query ($after: String) { me { auditTrail(first: 1, after: $after) { edges { cursor } } } }',
    ];
    for (const query of lists) {
      for (const after of forged) {
        const answer = await graphql(stack.gatewayUrl, query, { token, variables: { after } });
        expect({ query, codes: (answer.errors ?? []).map((error) => error.extensions?.code) }).toEqual({ query, codes: ['BAD_USER_INPUT'] });
      }
    }
    const from = await graphql(stack.gatewayUrl, 'query ($from: DateTime) { auditLog(filter: { from: $from }) { edges { cursor } } }', {
      token,
      variables: { from: '0000-01-01T00:00:00Z' },
    });
    expect((from.errors ?? []).map((error) => error.extensions?.code)).toEqual(['BAD_USER_INPUT']);
  });
});
