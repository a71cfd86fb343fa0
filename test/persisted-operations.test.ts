import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { persistedQueryManifest, pollUntil, sha256Hex } from '@fedstack/runtime';
import { graphql, type GraphQLResponse } from '@fedstack/service-kit/testing';
import { createGatewayServer, loadGatewayConfig } from '@fedstack/gateway';
import { firstQuery, launcherManifest } from '@fedstack/scripts';
import { DEMO_ADMIN } from '@fedstack/shared-db';
import { PASSWORD, freshEmail, login, pay, register, type SignedIn } from './clients';
import { overMultipart, overSse, overWebSocket, wsClient } from './subscribers';
import { startStack, type RunningStack } from './stack';

/** Operations as a client ships them: a manifest in Apollo's format. */
const ME = 'query Me { me { id email } }';
const MY_PAYMENTS = 'query MyPayments { me { id payments { pageInfo { hasNextPage } } } }';
const PAYMENT_UPDATES = 'subscription PaymentUpdates { paymentUpdated { id status } }';
const ADDED_LATER = 'query MyEmail { me { email } }';

function manifest(bodies: Record<string, readonly [string, 'query' | 'mutation' | 'subscription']>): string {
  return persistedQueryManifest(Object.entries(bodies).map(([name, [body, type]]) => ({ name, type, body })));
}

const LISTED = { Me: [ME, 'query'], MyPayments: [MY_PAYMENTS, 'query'], PaymentUpdates: [PAYMENT_UPDATES, 'subscription'] } as const;

/** POSTs a request by persisted id alone, as Apollo Client's persisted-query link sends it. */
async function byId(url: string, body: string, token: string, operationName?: string): Promise<GraphQLResponse> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ operationName, variables: {}, extensions: { persistedQuery: { version: 1, sha256Hash: sha256Hex(body) } } }),
  });
  const answer = (await response.json()) as Pick<GraphQLResponse, 'data' | 'errors'>;
  return { status: response.status, headers: response.headers, data: answer.data, errors: answer.errors };
}

const codeOf = (response: GraphQLResponse) => response.errors?.[0]?.extensions?.code;

describe('persisted operations at the gateway', () => {
  let stack: RunningStack;
  let folder: string;
  let manifestFile: string;
  let user: SignedIn;

  beforeAll(async () => {
    folder = mkdtempSync(path.join(os.tmpdir(), 'fedstack-persisted-'));
    manifestFile = path.join(folder, 'persisted-query-manifest.json');
    writeFileSync(manifestFile, manifest(LISTED));
    stack = await startStack();
    user = await register(stack.gatewayUrl);
  });
  afterAll(async () => {
    await stack?.stop();
    rmSync(folder, { recursive: true, force: true });
  });

  describe('require', () => {
    let url: string;
    let metricsUrl: string | undefined;
    let logs: RunningStack['gatewayLogs'];
    beforeAll(async () => {
      const gateway = await stack.extraGateway({ PERSISTED_DOCUMENTS: 'require', PERSISTED_DOCUMENTS_FILE: manifestFile, SUPERGRAPH_POLL_MS: '100' });
      ({ url, logs } = gateway);
      metricsUrl = gateway.server.metricsUrl;
    });

    it('runs listed operations by id, by POST and by GET, and by their exact body', async () => {
      const posted = await byId(url, ME, user.accessToken);
      expect(posted.errors).toBeUndefined();
      expect(posted.data).toEqual({ me: { id: user.id, email: user.email } });

      const extensions = JSON.stringify({ persistedQuery: { version: 1, sha256Hash: sha256Hex(MY_PAYMENTS) } });
      const got = await fetch(`${url}?operationName=MyPayments&extensions=${encodeURIComponent(extensions)}`, {
        headers: { authorization: `Bearer ${user.accessToken}`, 'apollo-require-preflight': 'true' },
      });
      expect(got.status).toBe(200);
      expect(await got.json()).toEqual({ data: { me: { id: user.id, payments: { pageInfo: { hasNextPage: false } } } } });

      const asListed = await graphql(url, ME, { token: user.accessToken });
      expect(asListed.errors).toBeUndefined();
      expect(asListed.data).toEqual({ me: { id: user.id, email: user.email } });
    });

    it('refuses any other document with 400 PERSISTED_QUERY_NOT_IN_LIST before a subgraph is called, and an unknown id as not found', async () => {
      // The same operation spelt differently is another document.
      const reformatted = await graphql(url, 'query Me { me { email id } }', { token: user.accessToken });
      expect(reformatted.status).toBe(400);
      expect(codeOf(reformatted)).toBe('PERSISTED_QUERY_NOT_IN_LIST');

      // A refused mutation changes nothing: the account it would have made does not exist.
      const email = freshEmail('unlisted');
      const signUp = await graphql(url, 'mutation ($input: RegisterInput!) { register(input: $input) { accessToken } }', {
        variables: { input: { email, password: PASSWORD } },
      });
      expect(signUp.status).toBe(400);
      expect(codeOf(signUp)).toBe('PERSISTED_QUERY_NOT_IN_LIST');
      await expect(login(stack.gatewayUrl, email)).rejects.toThrow(/could not sign in|login failed/);

      const unknown = await byId(url, ADDED_LATER, user.accessToken);
      expect(codeOf(unknown)).toBe('PERSISTED_QUERY_NOT_FOUND');

      const text = await (await fetch(String(metricsUrl))).text();
      expect(text).toMatch(/gateway_operations_refused_total\{code="PERSISTED_QUERY_NOT_IN_LIST"[^}]*\} [1-9]/);
      expect(text).toMatch(/gateway_operation_documents_total\{by="id"[^}]*\} [1-9]/);
    });

    it("leaves a request that is not GraphQL over HTTP (a POST not in JSON, a GET's extensions not JSON) to Apollo Server's BAD_REQUEST, which runs nothing (it said not listed)", async () => {
      const extensions = JSON.stringify({ persistedQuery: { version: 1, sha256Hash: sha256Hex(ME) } });
      const asText = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'text/plain', 'apollo-require-preflight': 'true' },
        body: JSON.stringify({ extensions: JSON.parse(extensions) as unknown }),
      });
      const broken = await fetch(`${url}?operationName=Me&extensions=${encodeURIComponent('{x')}`, { headers: { 'apollo-require-preflight': 'true' } });
      for (const answer of [asText, broken]) {
        const body = (await answer.json()) as { data?: unknown; errors?: { message: string; extensions?: { code?: string } }[] };
        expect({ status: answer.status, code: body.errors?.[0]?.extensions?.code, data: body.data }).toEqual({
          status: 400,
          code: 'BAD_REQUEST',
          data: undefined,
        });
      }
    });

    it('holds subscriptions to the list too', async () => {
      const client = wsClient(url, user.accessToken);
      try {
        const listed = overWebSocket(client, PAYMENT_UPDATES);
        const unlisted = overWebSocket(client, 'subscription { paymentUpdated { id } }');
        const ending = await unlisted.ended;
        expect(ending.completed).toBe(false);
        expect(JSON.stringify(ending.error)).toContain('PERSISTED_QUERY_NOT_IN_LIST');
        // What HTTP would have answered is the gateway's own business, not the subscriber's.
        expect(JSON.stringify(ending.error)).not.toContain('"http"');
        // The listed one delivers. A client cannot tell when the gateway has subscribed upstream: pay until an event comes.
        const delivered = await pollUntil(
          'a payment event',
          async () => {
            const id = (await pay(stack.gatewayUrl, user)).data?.createPayment.id;
            return listed.until((result) => (result.data?.paymentUpdated as { id?: string } | undefined)?.id === id, 1000).catch((): false => false);
          },
          { timeoutMs: 10_000 },
        );
        expect(delivered.errors).toBeUndefined();
        // Over SSE and multipart HTTP too, the refusal says why; and it comes before auth is asked who the
        // subscriber is (it was asked first: without a token, the answer was UNAUTHENTICATED).
        for (const token of [user.accessToken, undefined]) {
          for (const stream of [
            overSse(url, token, 'subscription { paymentUpdated { id } }'),
            overMultipart(url, token, 'subscription { paymentUpdated { id } }'),
          ]) {
            expect({ token: Boolean(token), refusal: (await stream.next()).errors?.[0]?.extensions }).toEqual({
              token: Boolean(token),
              refusal: { code: 'PERSISTED_QUERY_NOT_IN_LIST' },
            });
            stream.unsubscribe();
          }
        }
        expect(delivered.data?.paymentUpdated).toEqual({ id: expect.any(String), status: expect.stringMatching(/^(PENDING|SUCCEEDED)$/) });
        listed.unsubscribe();
      } finally {
        await client.dispose();
      }
    });

    it('reloads a changed manifest, and keeps the list it has when the new one is bad', async () => {
      try {
        writeFileSync(manifestFile, manifest({ ...LISTED, MyEmail: [ADDED_LATER, 'query'] }));
        const listed = async () => (await byId(url, ADDED_LATER, user.accessToken)).data ?? false;
        expect(await pollUntil('the added operation listed', listed, { timeoutMs: 5000 })).toEqual({ me: { email: user.email } });

        const broken = JSON.parse(manifest({ ...LISTED, MyEmail: [ADDED_LATER, 'query'] })) as { operations: { id: string }[] };
        broken.operations[1]!.id = sha256Hex('something else');
        writeFileSync(manifestFile, JSON.stringify(broken));
        const refused = await logs.waitFor((line) => line.msg === 'persisted documents refused; the previous list keeps serving');
        expect((refused.err as { message: string }).message).toContain('operations[1] ("MyPayments"): id');
        expect((await byId(url, ADDED_LATER, user.accessToken)).data).toEqual({ me: { email: user.email } });

        // Nor does one that lists nothing close the API (it did, under require, until the file was fixed).
        writeFileSync(manifestFile, JSON.stringify({ ...broken, operations: [] }));
        const emptied = await logs.waitFor(
          (line) => line.msg === 'persisted documents refused; the previous list keeps serving' && JSON.stringify(line.err).includes('no operation'),
        );
        expect((emptied.err as { message: string }).message).toBe('the new list holds no operation');
        expect((await byId(url, ADDED_LATER, user.accessToken)).data).toEqual({ me: { email: user.email } });
      } finally {
        writeFileSync(manifestFile, manifest(LISTED));
      }
    });
  });

  it("lets npm start's own check through a gateway that requires the example client's list, once the launcher's is added", async () => {
    const launcher = path.join(folder, 'launcher.json');
    writeFileSync(launcher, launcherManifest());
    const client = path.join(__dirname, '..', 'clients', 'web', 'persisted-query-manifest.json');
    const { url } = await stack.extraGateway({ PERSISTED_DOCUMENTS: 'require', PERSISTED_DOCUMENTS_FILE: `${client},${launcher}` });
    await expect(firstQuery(url, DEMO_ADMIN)).resolves.toBeUndefined();
    const { url: without } = await stack.extraGateway({ PERSISTED_DOCUMENTS: 'require', PERSISTED_DOCUMENTS_FILE: client });
    await expect(firstQuery(without, DEMO_ADMIN)).rejects.toThrow(/Only the operations of the persisted query list run here/);
  });

  it('allow: listed ids resolve, any document runs, and automatic persisted queries work', async () => {
    // A listed operation nothing else here runs: auth has not counted it among its first 100 names.
    const labelCheck = 'query LabelCheck { me { id } }';
    const moreListed = path.join(folder, 'label-check.json');
    writeFileSync(moreListed, manifest({ LabelCheck: [labelCheck, 'query'] }));
    const { url, server } = await stack.extraGateway({ PERSISTED_DOCUMENTS: 'allow', PERSISTED_DOCUMENTS_FILE: `${manifestFile},${moreListed}` });
    expect((await byId(url, ME, user.accessToken)).data).toEqual({ me: { id: user.id, email: user.email } });
    // 100 made-up operation names first, as a client could send to use up the labels every process gives
    // the first 100 names it sees: the listed operation keeps its own, at the gateway and at auth.
    for (let n = 0; n < 100; n += 1) await graphql(url, `query Squat${n} { me { id } }`, { token: user.accessToken });
    expect((await byId(url, labelCheck, user.accessToken)).data).toEqual({ me: { id: user.id } });
    const labelled = async (scrape: string | undefined, name: string) =>
      new RegExp(`^graphql_requests_total\\{operation="${name}"`, 'm').test(await (await fetch(String(scrape))).text());
    const authMetrics = stack.subgraphUrls.auth.replace(/\/graphql$/, '/metrics');
    expect(await Promise.all([labelled(server.metricsUrl, 'LabelCheck'), labelled(authMetrics, 'LabelCheck__auth__0')])).toEqual([true, true]);
    expect((await graphql(url, ADDED_LATER, { token: user.accessToken })).data).toEqual({ me: { email: user.email } });
    await expectAutomaticPersistedQueries(url, user);
  });

  it('off (the default without a manifest): only automatic persisted queries know ids', async () => {
    expect(codeOf(await byId(stack.gatewayUrl, ME, user.accessToken))).toBe('PERSISTED_QUERY_NOT_FOUND');
    await expectAutomaticPersistedQueries(stack.gatewayUrl, user);
  });

  it("answers malformed persisted-query extensions as the client's bad input however deep, by POST and by GET, and serves on", async () => {
    // Nested thousands deep: JSON parses it, and showing it back overflowed the stack (a 10 kB body took the
    // gateway down; by GET, 500). `[` and `]` need no escaping in a URL's query, as a client may send them.
    const extensions = `{"persistedQuery":${'['.repeat(5000)}${']'.repeat(5000)}}`;
    const headers = { 'content-type': 'application/json', 'apollo-require-preflight': '1' };
    const posted = await fetch(stack.gatewayUrl, { method: 'POST', headers, body: `{"query":"{ __typename }","extensions":${extensions}}` });
    const got = await fetch(`${stack.gatewayUrl}?query=%7B__typename%7D&extensions=${extensions}`, { headers });
    for (const response of [posted, got]) {
      expect({ status: response.status, body: await response.json() }).toEqual({
        status: 400,
        body: {
          errors: [{ message: expect.stringContaining('(got an array nested too deeply to show)'), extensions: { code: 'BAD_USER_INPUT' } }],
        },
      });
    }
    expect((await graphql(stack.gatewayUrl, '{ __typename }')).data).toEqual({ __typename: 'Query' });
  });

  it('fails the start on a bad manifest, naming the entry', async () => {
    const bad = path.join(folder, 'bad.json');
    const entries = JSON.parse(manifest(LISTED)) as { operations: { type: string }[] };
    entries.operations[2]!.type = 'query';
    writeFileSync(bad, JSON.stringify(entries));
    const config = loadGatewayConfig({ ...process.env, GATEWAY_PORT: '0', PERSISTED_DOCUMENTS_FILE: bad });
    await expect(createGatewayServer({ config })).rejects.toThrow(
      /PERSISTED_DOCUMENTS_FILE: .*bad\.json: operations\[2\] \("PaymentUpdates"\): the body holds no query/,
    );
    expect(() => loadGatewayConfig({ ...process.env, PERSISTED_DOCUMENTS: 'require' })).toThrow(
      /PERSISTED_DOCUMENTS=require needs the manifests in PERSISTED_DOCUMENTS_FILE/,
    );
  });
});

/** APQ: a hash alone is unknown, the hash with its document registers it, and then the hash alone runs it. */
async function expectAutomaticPersistedQueries(url: string, user: SignedIn): Promise<void> {
  const document = `query Apq${Math.random().toString(36).slice(2)} { me { id } }`;
  expect(codeOf(await byId(url, document, user.accessToken))).toBe('PERSISTED_QUERY_NOT_FOUND');
  const registered = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${user.accessToken}` },
    body: JSON.stringify({ query: document, extensions: { persistedQuery: { version: 1, sha256Hash: sha256Hex(document) } } }),
  });
  expect(await registered.json()).toEqual({ data: { me: { id: user.id } } });
  expect((await byId(url, document, user.accessToken)).data).toEqual({ me: { id: user.id } });
  // An empty query beside the id, as graphql-ws and graphql-sse clients send one, is the id alone (it was
  // taken for the document "", whose hash is not the id: INTERNAL_SERVER_ERROR), by POST and by GET.
  const unknown = sha256Hex(`${document} # unknown`);
  for (const [hash, expected] of [
    [sha256Hex(document), { data: { me: { id: user.id } } }],
    [unknown, { errors: [expect.objectContaining({ extensions: expect.objectContaining({ code: 'PERSISTED_QUERY_NOT_FOUND' }) })] }],
  ] as const) {
    const extensions = JSON.stringify({ persistedQuery: { version: 1, sha256Hash: hash } });
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${user.accessToken}`, 'apollo-require-preflight': '1' };
    const posted = await fetch(url, { method: 'POST', headers, body: `{"query":"","extensions":${extensions}}` });
    const got = await fetch(`${url}?${new URLSearchParams({ query: '', extensions })}`, { headers });
    for (const response of [posted, got]) expect(await response.json()).toEqual(expected);
  }
}
