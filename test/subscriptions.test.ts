import { pollUntil } from '@fedstack/runtime';
import { graphql } from '@fedstack/service-kit/testing';
import WebSocket from 'ws';
import { ACCOUNT_CHANGE_BOUND_MS, REINSTATE, SET_ROLE, SUSPEND, administer, demoAdmin, login, newAdmin, pay, register, type SignedIn } from './clients';
import { startStack, type RunningStack } from './stack';
import { overMultipart, overSse, overWebSocket, wsClient, type Result, type Subscription } from './subscribers';

/**
 * Subscriptions through the gateway, as apps subscribe: over WebSocket (graphql-ws), Server-Sent Events
 * (graphql-sse) and Apollo's multipart HTTP. Each event's fields come from three subgraphs; the account
 * policy ends a subscription within its bound; the limits hold; the gateway's stop and a subgraph's
 * restart end subscriptions in ways a client can act on.
 */
describe('subscriptions through the gateway', () => {
  let stack: RunningStack;
  const clients: { dispose(): void | Promise<void> }[] = [];
  const subscriptions: Subscription[] = [];

  beforeAll(async () => {
    // payments' bounds on its connection to the gateway set low, for the test of one subscriber's large results.
    const bounds = { SUBGRAPH_SUBSCRIPTION_MAX_BUFFERED_BYTES: '65536', SUBGRAPH_SUBSCRIPTION_MAX_EVENT_BYTES: '204800' };
    stack = await startStack({ SUBSCRIPTIONS_MAX_PER_CONNECTION: '3' }, {}, (name) => (name === 'payments' ? bounds : {}));
  }, 60_000);
  afterEach(() => {
    for (const subscription of subscriptions.splice(0)) subscription.unsubscribe();
  });
  afterAll(async () => {
    for (const client of clients) await client.dispose();
    await stack.stop();
  });

  const PAYMENT_FIELDS = 'id status amount currency refundedAmount user { id email profile { displayName } }';
  const MY_PAYMENTS = `subscription { paymentUpdated { ${PAYMENT_FIELDS} } }`;

  const track = (subscription: Subscription) => {
    subscriptions.push(subscription);
    return subscription;
  };
  const overWs = (user: SignedIn | undefined, query: string, variables: Record<string, unknown> = {}) => {
    const client = wsClient(stack.gatewayUrl, user?.accessToken);
    clients.push(client);
    return track(overWebSocket(client, query, variables));
  };
  const payment = (result: Result) =>
    result.data?.paymentUpdated as { id: string; status: string; refundedAmount: string; user: { email: string; profile: { displayName: string | null } } };
  const codeOf = (result: Result) => result.errors?.[0]?.extensions?.code;

  /**
   * Pays until one of the user's payments reaches `events`: a client cannot tell when the gateway has
   * subscribed upstream, so a payment made at once may come before it. Returns that payment's id.
   */
  async function whenLive(events: Subscription, user: SignedIn): Promise<string> {
    for (let attempt = 1; ; attempt += 1) {
      const id = (await pay(stack.gatewayUrl, user, '1.00')).data?.createPayment.id as string;
      try {
        await events.until((result) => payment(result)?.id === id, 1000);
        return id;
      } catch (error) {
        if (attempt === 10) throw error;
      }
    }
  }

  async function namedUser(displayName: string): Promise<SignedIn> {
    const user = await register(stack.gatewayUrl);
    const named = await graphql(stack.gatewayUrl, 'mutation ($name: String!) { updateMyProfile(input: { displayName: $name }) { displayName } }', {
      token: user.accessToken,
      variables: { name: displayName },
    });
    expect(named.errors).toBeUndefined();
    return user;
  }

  describe.each([
    ['WebSocket', (user: SignedIn, query: string, variables?: Record<string, unknown>) => overWs(user, query, variables)],
    [
      'Server-Sent Events',
      (user: SignedIn, query: string, variables?: Record<string, unknown>) => track(overSse(stack.gatewayUrl, user.accessToken, query, variables)),
    ],
    [
      'multipart HTTP',
      (user: SignedIn, query: string, variables?: Record<string, unknown>) => track(overMultipart(stack.gatewayUrl, user.accessToken, query, variables)),
    ],
  ])('over %s', (_transport, subscribe) => {
    it("delivers a new payment's events with fields from payments, auth and profile, and only the subscriber's own", async () => {
      const [user, other] = await Promise.all([namedUser('Sub Scriber'), register(stack.gatewayUrl)]);
      const events = subscribe(user, MY_PAYMENTS);
      await whenLive(events, user);
      await pay(stack.gatewayUrl, other, '2.00');
      const paid = await pay(stack.gatewayUrl, user, '12.50');
      const settled = await events.until((result) => payment(result)?.id === paid.data?.createPayment.id && payment(result)?.status === 'SUCCEEDED');
      expect(settled.errors).toBeUndefined();
      expect(payment(settled)).toEqual({
        id: paid.data?.createPayment.id,
        status: 'SUCCEEDED',
        amount: '12.50',
        currency: 'EUR',
        refundedAmount: '0.00',
        user: { id: user.id, email: user.email, profile: { displayName: 'Sub Scriber' } },
      });
      // Nothing of the other user's came, before or after.
      expect(events.pending.every((result) => payment(result)?.user.email === user.email)).toBe(true);
    });
  });

  it('delivers a refund as an event on that payment, with its new refunded amount (by id, to the owner and to an admin)', async () => {
    const [user, admin] = await Promise.all([register(stack.gatewayUrl), demoAdmin(stack.gatewayUrl)]);
    const paid = await pay(stack.gatewayUrl, user, '30.00');
    const id = paid.data?.createPayment.id as string;
    const byId = 'subscription ($id: ID) { paymentUpdated(id: $id) { id status refundedAmount } }';
    const mine = overWs(user, byId, { id });
    const admins = overWs(admin, byId, { id });
    // A client cannot tell when the gateway has subscribed upstream: refund a cent at a time until both
    // have seen one, then check the refund after that.
    const refund = (amount: string, key: string) =>
      graphql(
        stack.gatewayUrl,
        'mutation ($id: ID!, $amount: Decimal!, $key: String!) { refundPayment(input: { paymentId: $id, amount: $amount }, idempotencyKey: $key) { id } }',
        {
          token: admin.accessToken,
          variables: { id, amount, key },
        },
      );
    for (const events of [mine, admins]) {
      for (let attempt = 1; ; attempt += 1) {
        expect((await refund('0.01', `warm-${attempt}-${Math.random()}`)).errors).toBeUndefined();
        const seen = await events.until((result) => payment(result)?.status === 'PARTIALLY_REFUNDED', 1000).catch(() => undefined);
        if (seen || attempt === 10) break;
      }
    }
    const before = Number(payment(mine.pending.at(-1) ?? {})?.refundedAmount ?? 0);
    expect((await refund('10.00', 'sub-refund')).errors).toBeUndefined();
    for (const events of [mine, admins]) {
      const event = await events.until((result) => Number(payment(result)?.refundedAmount ?? 0) >= 10);
      expect(event.data?.paymentUpdated).toMatchObject({ id, status: 'PARTIALLY_REFUNDED' });
      expect(Number(payment(event).refundedAmount)).toBeGreaterThanOrEqual(10 + before);
    }
  });

  it.each([
    ['WebSocket', (user: SignedIn, query: string) => overWs(user, query)],
    ['Server-Sent Events', (user: SignedIn, query: string) => track(overSse(stack.gatewayUrl, user.accessToken, query))],
    ['multipart HTTP', (user: SignedIn, query: string) => track(overMultipart(stack.gatewayUrl, user.accessToken, query))],
  ])("answers a query's error over %s as over HTTP, not as an internal error", async (_transport, send) => {
    const user = await register(stack.gatewayUrl);
    const answer = await send(user, '{ user(id: "not-a-uuid") { id } }').next();
    expect(answer.errors?.[0]).toMatchObject({ message: expect.stringContaining('must be a UUID'), extensions: { code: 'BAD_USER_INPUT' } });
  });

  it("answers NOT_FOUND for another user's payment, as payment(id) does, and ends the subscription", async () => {
    const [owner, stranger] = await Promise.all([register(stack.gatewayUrl), register(stack.gatewayUrl)]);
    const id = (await pay(stack.gatewayUrl, owner)).data?.createPayment.id as string;
    const events = overWs(stranger, 'subscription ($id: ID) { paymentUpdated(id: $id) { id } }', { id });
    expect(codeOf(await events.next())).toBe('NOT_FOUND');
    expect(await events.ended).toEqual({ completed: true });
  });

  it('feeds admins every audit entry as recorded, including those auth sends through its outbox', async () => {
    const [admin, user] = await Promise.all([demoAdmin(stack.gatewayUrl), register(stack.gatewayUrl)]);
    const feed = overWs(admin, 'subscription { auditEntryAdded { action targetId actor { email } } }');
    // Live once an entry reaches it: suspend and reinstate the user until one does.
    const entryFor = (result: Result) => result.data?.auditEntryAdded as { action: string; targetId?: string } | undefined;
    for (let attempt = 1; ; attempt += 1) {
      await administer(stack.gatewayUrl, admin, attempt % 2 ? SUSPEND : REINSTATE, { id: user.id, reason: 'live feed' });
      const seen = await feed.until((result) => entryFor(result)?.targetId === user.id, 2000).catch(() => undefined);
      if (seen || attempt === 6) break;
    }
    const target = await register(stack.gatewayUrl);
    await administer(stack.gatewayUrl, admin, SUSPEND, { id: target.id, reason: 'live feed' });
    const entry = await feed.until((result) => entryFor(result)?.targetId === target.id);
    expect(entry.data?.auditEntryAdded).toEqual({ action: 'user.suspend', targetId: target.id, actor: { email: 'admin@example.com' } });
  });

  describe('under the account policy, within its bound', () => {
    /** Subscribes and waits until a payment's event arrives, so that the subscription is known to be live. */
    async function liveSubscription(user: SignedIn): Promise<Subscription> {
      const events = overWs(user, MY_PAYMENTS);
      await whenLive(events, user);
      return events;
    }

    /** Waits for the subscription to end with one of `codes`, within the bound, and returns how long it took. */
    async function endsWith(events: Subscription, ...codes: string[]): Promise<number> {
      const started = Date.now();
      const last = await events.until((result) => Boolean(result.errors), ACCOUNT_CHANGE_BOUND_MS + 3000);
      expect(codes).toContain(codeOf(last));
      await events.ended;
      return Date.now() - started;
    }

    // A suspension also ends every sign-in: whichever news reaches payments first ends it, FORBIDDEN or UNAUTHENTICATED.
    it('ends the subscription of a suspended account with FORBIDDEN (or UNAUTHENTICATED, its sign-ins ended too)', async () => {
      const [user, admin] = await Promise.all([register(stack.gatewayUrl), demoAdmin(stack.gatewayUrl)]);
      const events = await liveSubscription(user);
      await administer(stack.gatewayUrl, admin, SUSPEND, { id: user.id, reason: 'subscription test' });
      expect(await endsWith(events, 'FORBIDDEN', 'UNAUTHENTICATED')).toBeLessThanOrEqual(ACCOUNT_CHANGE_BOUND_MS);
    });

    it('ends the subscription of a sign-in that ended (logout) with UNAUTHENTICATED, and closes its connection 4401 (it held a place of its user)', async () => {
      const user = await register(stack.gatewayUrl);
      let closedWith: number | undefined;
      const client = wsClient(stack.gatewayUrl, user.accessToken, { onClosed: (code) => (closedWith = code) });
      clients.push(client);
      const events = track(overWebSocket(client, MY_PAYMENTS));
      await whenLive(events, user);
      const out = await graphql(stack.gatewayUrl, 'mutation ($token: String!) { logout(refreshToken: $token) }', { variables: { token: user.refreshToken } });
      expect(out.errors).toBeUndefined();
      expect(await endsWith(events, 'UNAUTHENTICATED')).toBeLessThanOrEqual(ACCOUNT_CHANGE_BOUND_MS);
      await pollUntil('the connection closed', async () => (closedWith === undefined ? undefined : true), { timeoutMs: 5000, intervalMs: 20 });
      expect(closedWith).toBe(4401);
    });

    it.each([
      ['demoted', SET_ROLE, { role: 'USER' }, ['FORBIDDEN']],
      ['suspended', SUSPEND, { reason: 'feed test' }, ['FORBIDDEN', 'UNAUTHENTICATED']],
    ])('stops a %s admin receiving the audit feed, the entry of that very change included', async (_change, mutation, variables, codes) => {
      const [admin, other] = await Promise.all([newAdmin(stack.gatewayUrl), demoAdmin(stack.gatewayUrl)]);
      const feed = overWs(admin, 'subscription { auditEntryAdded { action targetId } }');
      const target = await register(stack.gatewayUrl);
      for (let attempt = 1; ; attempt += 1) {
        await administer(stack.gatewayUrl, other, attempt % 2 ? SUSPEND : REINSTATE, { id: target.id, reason: 'feed live' });
        const seen = await feed
          .until((result) => (result.data?.auditEntryAdded as { targetId?: string } | undefined)?.targetId === target.id, 2000)
          .catch(() => undefined);
        if (seen || attempt === 6) break;
      }
      await administer(stack.gatewayUrl, other, mutation, { id: admin.id, ...variables });
      // Until the end, nothing about themselves: admin records the change with its audit entry, and that
      // entry reached them first while admin's view still took them for an active admin.
      const entries: unknown[] = [];
      const started = Date.now();
      const last = await feed.until((result) => Boolean(result.errors) || (entries.push(result.data?.auditEntryAdded), false), ACCOUNT_CHANGE_BOUND_MS + 3000);
      expect(codes).toContain(codeOf(last));
      expect(Date.now() - started).toBeLessThanOrEqual(ACCOUNT_CHANGE_BOUND_MS);
      expect(entries.filter((entry) => (entry as { targetId?: string } | undefined)?.targetId === admin.id)).toEqual([]);
      await feed.ended;
    });
  });

  describe('limits and bad input', () => {
    it('refuses a connection without an access token, or with a bad one, as one to give a valid token to (4401)', async () => {
      for (const token of [undefined, 'not-a-token']) {
        const closed = new Promise<number>((resolve) => {
          const client = wsClient(stack.gatewayUrl, token, { onClosed: (code) => resolve(code) });
          clients.push(client);
        });
        expect(await closed).toBe(4401);
      }
    });

    it('closes a connection that does not initialise in time (4408)', async () => {
      const quick = await stack.extraGateway({ SUBSCRIPTION_INIT_TIMEOUT_MS: '200' });
      try {
        const socket = new WebSocket(quick.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
        const code = await new Promise<number>((resolve) => socket.on('close', (closeCode) => resolve(closeCode)));
        expect(code).toBe(4408);
      } finally {
        await quick.server.stop();
      }
    });

    it('answers malformed frames with the protocol close codes, and keeps serving', async () => {
      const user = await register(stack.gatewayUrl);
      const frames: [string, number][] = [
        ['not json', 4400],
        [JSON.stringify({ type: 'subscribe', id: '1', payload: { query: '{ me { id } }' } }), 4401],
        [JSON.stringify({ type: 'nonsense' }), 4400],
      ];
      for (const [frame, expected] of frames) {
        const socket = new WebSocket(stack.gatewayUrl.replace(/^http/, 'ws'), 'graphql-transport-ws');
        await new Promise((resolve) => socket.once('open', resolve));
        socket.send(frame);
        expect(await new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)))).toBe(expected);
      }
      const still = await graphql(stack.gatewayUrl, '{ me { id } }', { token: user.accessToken });
      expect(still.data).toEqual({ me: { id: user.id } });
    });

    it('refuses a subscription over the per-connection limit, and one over the operation limits', async () => {
      const user = await register(stack.gatewayUrl);
      const client = wsClient(stack.gatewayUrl, user.accessToken);
      clients.push(client);
      const held = [1, 2, 3].map(() => track(overWebSocket(client, MY_PAYMENTS)));
      const refused = track(overWebSocket(client, MY_PAYMENTS));
      const refusal = await refused.next(5000);
      expect(refusal.errors?.[0]?.extensions).toMatchObject({ code: 'TOO_MANY_SUBSCRIPTIONS', limit: 'connection', max: 3 });
      for (const subscription of held) subscription.unsubscribe();
      const deepClient = wsClient(stack.gatewayUrl, user.accessToken);
      clients.push(deepClient);
      // Deeper than MAX_QUERY_DEPTH (12): four hops of user → payments → edges → node.
      const hops = 4;
      const deepQuery = `subscription { paymentUpdated { ${'user { payments { edges { node { '.repeat(hops)}id${' } } } }'.repeat(hops)} } }`;
      const deep = track(overWebSocket(deepClient, deepQuery));
      expect(await deep.ended).toEqual({
        completed: false,
        error: [expect.objectContaining({ extensions: expect.objectContaining({ code: 'OPERATION_TOO_COMPLEX', limit: 'depth' }) })],
      });
    });
    it("refuses, as that subscription's own bad input, what ended a connection or a process, and the subscriber beside it keeps its events", async () => {
      const bob = await register(stack.gatewayUrl);
      const events = overWs(bob, MY_PAYMENTS);
      await whenLive(events, bob);
      const alice = await register(stack.gatewayUrl);
      // Written by hand: no client library serialises a variable nested thousands deep.
      const socket = new WebSocket(stack.gatewayUrl.replace(/^http/, 'ws'), 'graphql-transport-ws');
      const answers: Record<string, unknown>[] = [];
      socket.on('message', (data: Buffer) => answers.push(JSON.parse(data.toString('utf8')) as Record<string, unknown>));
      let closed: number | undefined;
      socket.on('close', (code) => (closed = code));
      await new Promise((resolve) => socket.once('open', resolve));
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${alice.accessToken}` } }));
      await pollUntil('the connection acknowledged', async () => answers.some(({ type }) => type === 'connection_ack') || undefined, {
        timeoutMs: 5000,
        intervalMs: 20,
      });
      const nested = (depth: number) => `${'['.repeat(depth)}"x"${']'.repeat(depth)}`;
      const subscribe = (id: string, payload: string) => socket.send(`{"id":"${id}","type":"subscribe","payload":${payload}}`);
      const BY_ID = 'subscription ($id: ID) { paymentUpdated(id: $id) { id } }';
      // Too deep to serialise again (the gateway's process ended at its upstream connection's next close),
      // and deep enough to overflow the subgraph's text check (which closed the connection every subscriber shares).
      subscribe('deep', `{"query":${JSON.stringify(BY_ID)},"variables":{"id":${nested(5000)}}}`);
      subscribe('deeper-than-text', `{"query":${JSON.stringify(BY_ID)},"variables":{"id":${nested(2000)}}}`);
      // A root field made conditional: an internal error with a literal; with a variable, the client's connection closed (4500).
      subscribe('skip', JSON.stringify({ query: 'subscription { paymentUpdated @skip(if: true) { id } }' }));
      subscribe('include', JSON.stringify({ query: 'subscription ($on: Boolean!) { paymentUpdated @include(if: $on) { id } }', variables: { on: true } }));
      // The same, through fragments: graphql-js reports neither.
      subscribe('fragment', JSON.stringify({ query: 'subscription { ...P } fragment P on Subscription { paymentUpdated @skip(if: true) { id } }' }));
      subscribe(
        'inline',
        JSON.stringify({ query: 'subscription ($on: Boolean!) { ... @include(if: $on) { paymentUpdated { id } } }', variables: { on: true } }),
      );
      // A frame just within MAX_BODY_BYTES (100000), which the gateway sends on with the client's headers added:
      // past the subgraph's own limit, it closed (1009) the connection every subscriber shares.
      const large = `{"query":${JSON.stringify(BY_ID)},"variables":{"id":"${'x'.repeat(99_000)}"}}`;
      subscribe('large', large + ' '.repeat(99_900 - `{"id":"large","type":"subscribe","payload":${large}}`.length));
      // Refused at the gateway (an error message), or by the subgraph (a result with the error, then complete).
      const codeIn = ({ type, payload }: Record<string, unknown>) =>
        (type === 'error' ? (payload as Result['errors']) : type === 'next' ? (payload as Result).errors : undefined)?.[0]?.extensions?.code;
      const codes = await pollUntil(
        'every subscription refused',
        async () => {
          const refused: Record<string, unknown> = Object.fromEntries(
            answers.flatMap((answer): [string, unknown][] => (codeIn(answer) ? [[String(answer.id), codeIn(answer)]] : [])),
          );
          return Object.keys(refused).length === 7 ? refused : undefined;
        },
        { timeoutMs: 10_000, intervalMs: 50 },
      );
      expect(codes).toEqual({
        deep: 'BAD_USER_INPUT',
        'deeper-than-text': 'BAD_USER_INPUT',
        skip: 'GRAPHQL_VALIDATION_FAILED',
        include: 'GRAPHQL_VALIDATION_FAILED',
        fragment: 'GRAPHQL_VALIDATION_FAILED',
        inline: 'GRAPHQL_VALIDATION_FAILED',
        large: 'BAD_USER_INPUT',
      });
      expect(closed).toBeUndefined();
      socket.close();
      // Bob's subscription, on the gateway's connection to payments that the large frame crossed, goes on.
      await whenLive(events, bob);
      expect((await graphql(stack.gatewayUrl, '{ __typename }')).data).toEqual({ __typename: 'Query' });
    });

    it('streams to any Accept that takes text/event-stream, and runs no mutation sent by GET on a stream', async () => {
      const user = await register(stack.gatewayUrl);
      const headers = (accept: string) => ({ accept, authorization: `Bearer ${user.accessToken}`, 'content-type': 'application/json' });
      for (const accept of ['text/event-stream, application/json', 'text/event-stream;charset=utf-8']) {
        const response = await fetch(stack.gatewayUrl, { method: 'POST', headers: headers(accept), body: JSON.stringify({ query: '{ me { email } }' }) });
        expect({ accept, status: response.status, body: await response.text() }).toEqual({
          accept,
          status: 200,
          body: expect.stringContaining(JSON.stringify({ data: { me: { email: user.email } } })),
        });
      }
      const rename = new URLSearchParams({ query: 'mutation { updateMyProfile(input: { displayName: "Set by GET" }) { displayName } }' });
      for (const accept of ['text/event-stream', 'multipart/mixed;subscriptionSpec="1.0", application/json']) {
        const body = await (await fetch(`${stack.gatewayUrl}?${rename}`, { headers: headers(accept) })).text();
        expect({ accept, refused: body.includes('"code":"BAD_REQUEST"'), ran: body.includes('Set by GET') }).toEqual({ accept, refused: true, ran: false });
      }
      const profile = await graphql(stack.gatewayUrl, '{ me { profile { displayName } } }', { token: user.accessToken });
      expect(profile.data).toEqual({ me: { profile: { displayName: null } } });
      // Variables cut short are refused, not taken for none (it subscribed to every payment of the user's instead of the one asked for).
      const cutShort = `query=${encodeURIComponent('subscription ($id: ID) { paymentUpdated(id: $id) { id } }')}&variables=${encodeURIComponent('{"id":"abc')}`;
      const answer = await (
        await fetch(`${stack.gatewayUrl}?${cutShort}`, {
          headers: headers('multipart/mixed;subscriptionSpec="1.0", application/json'),
          // Refused at once; taken for no variables, the subscription would run on.
          signal: AbortSignal.timeout(10_000),
        })
      ).text();
      expect(answer).toContain('"variables\\" in the query string is not JSON');
      // Over SSE, said the same way (graphql-sse said "Unparsable URL").
      const overSse = await fetch(`${stack.gatewayUrl}?${cutShort}`, { headers: headers('text/event-stream'), signal: AbortSignal.timeout(10_000) });
      expect({ status: overSse.status, body: await overSse.text() }).toEqual({
        status: 400,
        body: expect.stringContaining('"variables\\" in the query string is not JSON'),
      });
      // What graphql-sse refuses itself carries a code too.
      for (const body of [{}, { query: '{ __typename }', variables: 'not an object' }]) {
        const refused = await fetch(stack.gatewayUrl, { method: 'POST', headers: headers('text/event-stream'), body: JSON.stringify(body) });
        expect({
          status: refused.status,
          codes: ((await refused.json()) as { errors: { extensions?: { code?: string } }[] }).errors.map((error) => error.extensions?.code),
        }).toEqual({
          status: 400,
          codes: ['BAD_REQUEST'],
        });
      }
    });

    it('refuses a user more subscriptions than the per-user limit, over every connection and transport', async () => {
      const limited = await stack.extraGateway({ SUBSCRIPTIONS_MAX_PER_USER: '2' });
      const user = await register(stack.gatewayUrl);
      const mine: Subscription[] = [];
      try {
        const first = wsClient(limited.url, user.accessToken);
        const second = wsClient(limited.url, user.accessToken);
        clients.push(first, second);
        mine.push(track(overWebSocket(first, MY_PAYMENTS)), track(overSse(limited.url, user.accessToken, MY_PAYMENTS)));
        // Both held: a payment reaches both (pay until it does, as the gateway subscribes upstream in its own time).
        await pollUntil(
          'both live',
          async () => {
            await pay(stack.gatewayUrl, user);
            return mine.every((subscription) => subscription.pending.length > 0);
          },
          { timeoutMs: 20_000, intervalMs: 300 },
        );
        const third = track(overWebSocket(second, MY_PAYMENTS));
        expect((await third.next()).errors?.[0]?.extensions).toMatchObject({ code: 'TOO_MANY_SUBSCRIPTIONS', limit: 'user', max: 2 });
        // Another user is not affected.
        const other = await register(stack.gatewayUrl);
        const theirs = wsClient(limited.url, other.accessToken);
        clients.push(theirs);
        await whenLive(track(overWebSocket(theirs, MY_PAYMENTS)), other);
      } finally {
        for (const subscription of mine) subscription.unsubscribe();
        await limited.server.stop();
      }
    });
    /**
     * Ended by its client (unsubscribed, connection closed, stream dropped), a subscription is given back
     * at once (its place under the per-user limit, the active gauge, its subscription at the subgraph). It
     * was kept until its next event (an async generator's return() waits for the await it is at), which
     * for a settled payment may never come.
     */
    it.each([
      ['WebSocket, unsubscribed', 'ws'],
      ['WebSocket, connection closed', 'ws-close'],
      ['Server-Sent Events, stream closed', 'sse'],
      ['multipart HTTP, request aborted', 'multipart'],
    ])('gives a subscription back at once when its client ends it (%s)', async (_, how) => {
      const limited = await stack.extraGateway({ SUBSCRIPTIONS_MAX_PER_USER: '1' });
      const user = await register(stack.gatewayUrl);
      const active = async () => {
        const text = await (await fetch(String(limited.server.metricsUrl))).text();
        return Number(/^subscriptions_active\{[^}]*field="paymentUpdated"[^}]*\} (\d+)$/m.exec(text)?.[1] ?? 0);
      };
      const connection = wsClient(limited.url, user.accessToken);
      clients.push(connection);
      try {
        const first =
          how === 'sse'
            ? overSse(limited.url, user.accessToken, MY_PAYMENTS)
            : how === 'multipart'
              ? overMultipart(limited.url, user.accessToken, MY_PAYMENTS)
              : overWebSocket(connection, MY_PAYMENTS);
        // The payment's other event (recorded or settled) in too, if it is still to come: nothing more is
        // coming to this subscription, which therefore has no event to wake it.
        const id = await whenLive(first, user);
        await first.until((result) => payment(result)?.id === id, 2000).catch(() => undefined);
        expect(await active()).toBe(1);
        if (how === 'ws-close') await connection.dispose();
        else first.unsubscribe();
        await pollUntil('the subscription given back', async () => (await active()) === 0, { timeoutMs: 2000, intervalMs: 50 });
        const again = wsClient(limited.url, user.accessToken);
        clients.push(again);
        await whenLive(track(overWebSocket(again, MY_PAYMENTS)), user);
      } finally {
        await limited.server.stop();
      }
    });
  });

  describe("one subscriber's large results, on the gateway's connection to payments that every subscriber shares", () => {
    it("end that subscriber's subscription alone when over its bounds, and no one else's (each closed the shared connection)", async () => {
      const bob = await register(stack.gatewayUrl);
      const bobs = overWs(bob, MY_PAYMENTS);
      await whenLive(bobs, bob);
      const erin = await register(stack.gatewayUrl);
      for (let made = 0; made < 30; made += 1) expect((await pay(stack.gatewayUrl, erin, '1.00')).errors).toBeUndefined();
      // A fragment reaching auth is written out at each of its spreads in payments' operation: three times
      // this alias, over what a subgraph takes (MAX_BODY_BYTES), though the client's document is under it.
      const wide = 'w'.repeat(40_000);
      const spread = overWs(
        erin,
        `subscription { paymentUpdated { ...P user { payments(first: 1) { edges { node { ...P user { payments(first: 1) { edges { node { ...P } } } } } } } } } }
          fragment P on Payment { ${wide}: id user { email } }`,
      );
      expect((await spread.ended).error).toEqual([
        { message: expect.stringMatching(/^This subscription, as the gateway must send it on to a subgraph/), extensions: { code: 'OPERATION_TOO_COMPLEX' } },
      ]);
      // Events of 10 × 12 kB, over what may wait on the connection (64 kB here), and of 30 × 12 kB, over what one event may be (200 kB here).
      const page = (first: number) => `subscription { paymentUpdated { user { payments(first: ${first}) { edges { node { ${'k'.repeat(12_000)}: id } } } } } }`;
      const large = overWs(erin, page(10));
      const tooLarge = overWs(erin, page(30));
      await whenLive(overWs(erin, MY_PAYMENTS), erin);
      const eventOf = (result: Result) => (result.data?.paymentUpdated as { user: { payments: { edges: unknown[] } } } | undefined)?.user.payments.edges.length;
      expect(eventOf(await large.next())).toBe(10);
      const ended = await tooLarge.until((result) => Boolean(result.errors));
      expect(ended.errors?.[0]).toMatchObject({
        message: expect.stringMatching(/^One event's result for this subscription is \d+ bytes, over the 204800 a subscription's event may be/),
        extensions: { code: 'OPERATION_TOO_COMPLEX' },
      });
      // Bob's subscription goes on: his next payment's event arrives.
      const id = (await pay(stack.gatewayUrl, bob, '2.00')).data?.createPayment.id;
      expect(payment(await bobs.until((result) => Boolean(result.errors) || payment(result)?.id === id))).toMatchObject({ id });
    });
  });

  describe('when servers stop', () => {
    it('ends subscriptions with SUBGRAPH_UNAVAILABLE when the owning subgraph stops, and serves new ones once it is back', async () => {
      const user = await register(stack.gatewayUrl);
      const events = overWs(user, MY_PAYMENTS);
      await whenLive(events, user);
      await stack.stopSubgraph('payments');
      try {
        const last = await events.until((result) => Boolean(result.errors));
        expect(last.errors?.[0]?.extensions).toMatchObject({ code: 'SUBGRAPH_UNAVAILABLE', serviceName: 'payments' });
      } finally {
        await stack.startSubgraph('payments');
      }
      await whenLive(overWs(await login(stack.gatewayUrl, user.email), MY_PAYMENTS), user);
    });

    it('closes every WebSocket with 1001 (going away) when the gateway stops, so clients reconnect elsewhere', async () => {
      const other = await stack.extraGateway({});
      const user = await register(stack.gatewayUrl);
      const closed = new Promise<number>((resolve) => {
        const client = wsClient(other.url, user.accessToken, { onClosed: (code) => resolve(code) });
        track(overWebSocket(client, MY_PAYMENTS));
      });
      await pay(stack.gatewayUrl, user);
      await other.server.stop();
      expect(await closed).toBe(1001);
    });
  });
});
