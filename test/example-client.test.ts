/// <reference lib="dom" />
// The DOM's types: this file's page.evaluate callbacks run in the browser.
import { existsSync, readFileSync } from 'node:fs';
import { chromium, type Browser, type Page, type Request } from 'playwright-core';
import { freePort, pollUntil } from '@fedstack/runtime';
import { MANIFEST_FILE, startClientServer, type ClientServer } from '@fedstack/example-client';
import { graphql } from '@fedstack/service-kit/testing';
import { REINSTATE, SUSPEND, administer, demoAdmin, PASSWORD, pay, register, type SignedIn } from './clients';
import { startStack, type RunningStack } from './stack';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const browser = existsSync(CHROMIUM) ? it : it.skip;

interface ManifestOperation {
  id: string;
  name: string;
  type: string;
  body: string;
}
const { operations } = JSON.parse(readFileSync(MANIFEST_FILE, 'utf8')) as { operations: ManifestOperation[] };
const listed = (name: string): ManifestOperation => {
  const found = operations.find((operation) => operation.name === name);
  if (!found) throw new Error(`${name} is not in ${MANIFEST_FILE}`);
  return found;
};

/** What the page sent the gateway: HTTP requests, and the WebSocket's subscribe messages. */
interface Traffic {
  http: { method: string; url: URL; body: Record<string, unknown> | undefined }[];
  subscribes: { query?: string; operationName?: string }[];
}

/** A page of the example client in Chromium, recording what it sends to `gatewayUrl`. */
async function openPage(instance: Browser, client: ClientServer, gatewayUrl: string): Promise<{ page: Page; traffic: Traffic }> {
  const page = await instance.newPage();
  const traffic: Traffic = { http: [], subscribes: [] };
  page.on('request', (request) => {
    if (!request.url().startsWith(gatewayUrl) || request.method() === 'OPTIONS') return;
    const body = request.postData();
    traffic.http.push({ method: request.method(), url: new URL(request.url()), body: body ? (JSON.parse(body) as Record<string, unknown>) : undefined });
  });
  page.on('websocket', (socket) =>
    socket.on('framesent', ({ payload }) => {
      const message = JSON.parse(String(payload)) as { type: string; payload: Traffic['subscribes'][number] };
      if (message.type === 'subscribe') traffic.subscribes.push(message.payload);
    }),
  );
  await page.goto(client.url);
  return { page, traffic };
}

/** Waits until `selector`'s text matches `pattern` and returns it; fails at once, saying it, if the page shows an error. */
async function waitForText(page: Page, selector: string, pattern: RegExp): Promise<string> {
  const handle = await page.waitForFunction(
    ([selector, source, flags]) => {
      const error = document.getElementById('error')?.textContent;
      if (error) return { error };
      const text = document.querySelector(selector)?.textContent ?? '';
      return new RegExp(source, flags).test(text) ? { text } : false;
    },
    [selector, pattern.source, pattern.flags] as const,
    { timeout: 20_000 },
  );
  const result = (await handle.jsonValue()) as { error?: string; text?: string };
  if (result.error) throw new Error(`the page shows an error: ${result.error}`);
  return result.text ?? '';
}

async function signIn(page: Page, email: string, password: string): Promise<void> {
  await page.fill('#sign-in [name="email"]', email);
  await page.fill('#sign-in [name="password"]', password);
  await page.click('#sign-in button');
  await waitForText(page, '#session', new RegExp(`^Signed in as ${email.replace(/[.+]/g, '\\$&')} `));
}

/** What each subgraph contributed to "My account", by the page's data-from attribute. */
async function myAccount(page: Page): Promise<Record<string, string>> {
  await page.evaluate(() => document.getElementById('account')?.replaceChildren());
  await page.click('#my-account');
  await waitForText(page, '#account', /audit trail/);
  const lines = await page.$$eval('#account [data-from]', (found) =>
    found.map((line) => [line.getAttribute('data-from') ?? '', line.textContent ?? ''] as const),
  );
  return Object.fromEntries(lines);
}

/**
 * Pays through the page until the subscription brings one of its payments settled (the page cannot
 * tell when the gateway has subscribed upstream), and returns that payment's id.
 */
async function payUntilSettledEventArrives(page: Page): Promise<string> {
  return pollUntil(
    'a settled payment in the page',
    async () => {
      await page.evaluate(() => document.getElementById('payment')?.replaceChildren());
      await page.click('#pay button');
      const shown = await waitForText(page, '#payment', /^Payment \S+: 12\.50 EUR/);
      const id = /^Payment (\S+):/.exec(shown)?.[1] as string;
      return page
        .locator(`#events li[data-id="${id}"][data-status="SUCCEEDED"]`)
        .waitFor({ timeout: 5000 })
        .then(() => id)
        .catch(() => undefined);
    },
    { timeoutMs: 45_000, intervalMs: 100 },
  );
}

/** A new user with a display name and an audit trail (suspended and reinstated by the demo admin), set up through `gatewayUrl`. */
async function newCustomer(gatewayUrl: string): Promise<SignedIn> {
  const user = await register(gatewayUrl);
  await graphql(gatewayUrl, 'mutation { updateMyProfile(input: { displayName: "Example Buyer" }) { displayName } }', { token: user.accessToken });
  const admin = await demoAdmin(gatewayUrl);
  await administer(gatewayUrl, admin, SUSPEND, { id: user.id, reason: 'example client test' });
  await administer(gatewayUrl, admin, REINSTATE, { id: user.id });
  return user;
}

/** The README's tour through the page's UI, as `user` then as the demo admin; returns the payment it made and refunded. */
async function tour(page: Page, user: SignedIn): Promise<string> {
  await signIn(page, user.email, PASSWORD);
  expect(await myAccount(page)).toEqual({
    auth: `${user.email}, USER`,
    profile: 'Example Buyer, (no locale)',
    payments: 'latest: none; totals: none',
    admin: 'audit trail: for admins only',
  });

  const paymentId = await payUntilSettledEventArrives(page);
  expect(await page.textContent(`#events li[data-id="${paymentId}"][data-status="SUCCEEDED"]`)).toBe(
    `${paymentId}: 12.50 EUR SUCCEEDED, by ${user.email} (Example Buyer)`,
  );
  expect((await myAccount(page)).payments).toMatch(/^latest: .*12\.50 EUR SUCCEEDED.*; totals: \d+\.\d\d EUR$/);

  await signIn(page, 'admin@example.com', 'admin-demo-password');
  expect(await myAccount(page)).toEqual(expect.objectContaining({ auth: 'admin@example.com, ADMIN', admin: expect.stringMatching(/^audit trail: /) }));
  await page.fill('#refund [name="paymentId"]', paymentId);
  await page.click('#refund button');
  expect(await waitForText(page, '#refunded', /^Refund /)).toMatch(new RegExp(`^Refund \\S+: 2\\.50 of payment ${paymentId}$`));

  await page.click('#users');
  const row = await waitForText(page, `#user-list tr[data-email="${user.email}"]`, /./);
  expect(row).toContain(`${user.email} ACTIVE`);
  expect(row).toContain('Example Buyer');
  expect(row).toContain('12.50 EUR PARTIALLY_REFUNDED (2.50 refunded)');
  expect(row).toContain('user.reinstate, user.suspend');
  return paymentId;
}

/** The example page, the real bundle, in Chromium: the README's tour through its UI, with the gateway holding it to its manifest. */
describe('the example client', () => {
  let stack: RunningStack;
  let offGatewayUrl: string;
  let pages: ClientServer[] = [];
  let instance: Browser | undefined;

  beforeAll(async () => {
    stack = await startStack({ PERSISTED_DOCUMENTS: 'require', PERSISTED_DOCUMENTS_FILE: MANIFEST_FILE });
    offGatewayUrl = (await stack.extraGateway({ PERSISTED_DOCUMENTS: 'off' })).url;
    pages = await Promise.all([stack.gatewayUrl, offGatewayUrl].map((gatewayUrl) => startClientServer({ port: 0, host: '127.0.0.1', gatewayUrl })));
    if (existsSync(CHROMIUM)) instance = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-background-networking'] });
  }, 120_000);
  afterAll(async () => {
    await instance?.close();
    await Promise.all(pages.map((page) => page.stop()));
    await stack?.stop();
  });

  /**
   * Runs `use` on a new page of the example client (by default the one calling the gateway that runs only
   * its manifest's operations), and closes the page, whatever happens.
   */
  async function onPage(
    use: (opened: { page: Page; traffic: Traffic }) => Promise<void>,
    client = pages[0] as ClientServer,
    gatewayUrl = stack.gatewayUrl,
  ): Promise<void> {
    const opened = await openPage(instance as Browser, client, gatewayUrl);
    try {
      await use(opened);
    } finally {
      await opened.page.close();
    }
  }

  describe('against a gateway that runs only the operations in its manifest (PERSISTED_DOCUMENTS=require)', () => {
    let page: Page;
    let traffic: Traffic;

    beforeAll(async () => {
      if (!instance) return;
      ({ page, traffic } = await openPage(instance, pages[0] as ClientServer, stack.gatewayUrl));
    });

    browser('runs the tour: sign in, my account from the four subgraphs, pay, the payment event, refund, the users list', async () => {
      // Set up through the other gateway: this one runs nothing but the page's operations.
      await tour(page, await newCustomer(offGatewayUrl));
      expect(await page.textContent('#error')).toBe('');
    });

    browser('sent every query and mutation by id alone (queries as GET), and the subscription with its body as listed', () => {
      expect(traffic.http.length).toBeGreaterThan(5);
      for (const { method, url, body } of traffic.http) {
        const request = method === 'GET' ? Object.fromEntries(url.searchParams) : body;
        const extensions = (method === 'GET' ? JSON.parse(String(request?.extensions)) : request?.extensions) as { persistedQuery?: { sha256Hash: string } };
        const operation = listed(String(request?.operationName));
        expect({ method, query: request?.query, hash: extensions.persistedQuery?.sha256Hash }).toEqual({
          method: operation.type === 'query' ? 'GET' : 'POST',
          query: undefined,
          hash: operation.id,
        });
      }
      expect(traffic.subscribes.length).toBeGreaterThan(0);
      for (const subscribe of traffic.subscribes)
        expect(subscribe).toEqual(expect.objectContaining({ operationName: 'PaymentUpdates', query: listed('PaymentUpdates').body }));
    });

    browser('an operation the manifest does not list, sent from the page, is refused with 400 PERSISTED_QUERY_NOT_IN_LIST', async () => {
      const answer = await page.evaluate(async (url) => {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: '{ me { id email } }' }),
        });
        return { status: response.status, body: (await response.json()) as { errors?: { extensions?: { code?: string } }[] } };
      }, stack.gatewayUrl);
      expect({ status: answer.status, code: answer.body.errors?.[0]?.extensions?.code }).toEqual({ status: 400, code: 'PERSISTED_QUERY_NOT_IN_LIST' });
    });

    browser('a listed operation runs by id with GET; an unknown id is PERSISTED_QUERY_NOT_FOUND', async () => {
      const get = (hash: string) =>
        page.evaluate(
          async ([url, hash]) => {
            const search = new URLSearchParams({
              operationName: 'MyAccount',
              variables: JSON.stringify({ isAdmin: false }),
              extensions: JSON.stringify({ persistedQuery: { version: 1, sha256Hash: hash } }),
            });
            const response = await fetch(`${url}?${search}`, { headers: { 'apollo-require-preflight': 'true' } });
            return { status: response.status, body: (await response.json()) as { data?: unknown; errors?: { extensions?: { code?: string } }[] } };
          },
          [stack.gatewayUrl, hash] as const,
        );
      expect(await get(listed('MyAccount').id)).toEqual({ status: 200, body: { data: { me: null } } });
      expect((await get('0'.repeat(64))).body.errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_NOT_FOUND');
    });
  });

  describe('when a subgraph restarts and when the access token expires', () => {
    browser('subscribes again when payments restarts (SUBGRAPH_UNAVAILABLE ended its updates for good), and shows no error', async () => {
      await onPage(async ({ page }) => {
        const user = await register(offGatewayUrl);
        await signIn(page, user.email, PASSWORD);
        await payUntilSettledEventArrives(page);
        await stack.stopSubgraph('payments');
        await stack.startSubgraph('payments');
        await page.locator('#updates', { hasText: /SUBGRAPH_UNAVAILABLE.*subscribing again/s }).waitFor({ timeout: 10_000 });
        await payUntilSettledEventArrives(page);
        expect(await page.textContent('#error')).toBe('');
      });
    });

    browser('shows an event that carries an error and keeps its subscription (it called it interrupted and subscribed again beside it)', async () => {
      await onPage(async ({ page, traffic }) => {
        const user = await register(offGatewayUrl);
        await signIn(page, user.email, PASSWORD);
        await payUntilSettledEventArrives(page);
        const subscribed = traffic.subscribes.length;
        await stack.stopSubgraph('profile');
        try {
          // The payer's name comes from profile: the event arrives without it, and with the error.
          await page.click('#pay button');
          await page.locator('#events li', { hasText: '(no name)' }).first().waitFor({ timeout: 10_000 });
          await page.locator('#updates', { hasText: 'SUBGRAPH_UNAVAILABLE' }).waitFor({ timeout: 10_000 });
          // The subscription goes on: it said "Interrupted …: subscribing again" and subscribed again beside it.
          expect(await page.textContent('#updates')).not.toContain('subscribing again');
        } finally {
          await stack.startSubgraph('profile');
        }
        // Events come again (one subscription: a payment's two events may both read it settled).
        await payUntilSettledEventArrives(page);
        expect(traffic.subscribes.length).toBe(subscribed);
        expect(await page.textContent('#updates')).toBe('');
      });
    });

    browser("stays signed in when its subscription ends with the token refused before the gateway's 4401 for its expiry comes (it signed out)", async () => {
      await onPage(async ({ page }) => {
        // Between the page and the gateway: each message passed on, the subscription's id noted, and a way to
        // end it as payments does when the token expires, ahead of the gateway's close.
        let endAsExpired: (() => void) | undefined;
        await page.routeWebSocket(/./, (socket) => {
          const server = socket.connectToServer();
          socket.onMessage((message) => {
            const { type, id } = JSON.parse(String(message)) as { type: string; id?: string };
            if (type === 'subscribe' && id) {
              endAsExpired = () => {
                const error = { message: 'Access token expired: refresh the session, then subscribe again', extensions: { code: 'UNAUTHENTICATED' } };
                socket.send(JSON.stringify({ id, type: 'next', payload: { errors: [error] } }));
                socket.send(JSON.stringify({ id, type: 'complete' }));
              };
            }
            server.send(message);
          });
          server.onMessage((message) => socket.send(message));
        });
        const user = await register(offGatewayUrl);
        await signIn(page, user.email, PASSWORD);
        await payUntilSettledEventArrives(page);
        endAsExpired?.();
        await page.locator('#updates', { hasText: /^Subscribed again after: UNAUTHENTICATED: Access token expired/ }).waitFor({ timeout: 10_000 });
        expect(await page.textContent('#session')).toMatch(/^Signed in as /);
        await payUntilSettledEventArrives(page);
      });
    });

    browser('shows what the subgraphs that answered gave when one could not, beside its error (it showed the error alone)', async () => {
      await onPage(async ({ page }) => {
        const user = await newCustomer(offGatewayUrl);
        await signIn(page, user.email, PASSWORD);
        await stack.stopSubgraph('payments');
        try {
          await page.click('#my-account');
          await page.locator('#error', { hasText: 'SUBGRAPH_UNAVAILABLE' }).waitFor({ timeout: 10_000 });
          expect(await page.textContent('#account [data-from="auth"]')).toBe(`${user.email}, USER`);
          expect(await page.textContent('#account [data-from="payments"]')).toBe('unavailable now');
        } finally {
          await stack.startSubgraph('payments');
        }
      });
    });

    browser('charges once for a double click on Pay (each click made a payment of its own)', async () => {
      await onPage(async ({ page }) => {
        const user = await register(offGatewayUrl);
        await signIn(page, user.email, PASSWORD);
        await page.fill('#pay [name="amount"]', '7.31');
        await page.dblclick('#pay button');
        await waitForText(page, '#payment', /^Payment \S+: 7\.31 EUR/);
        type Mine = { me: { payments: { edges: { node: { amount: string } }[] } } };
        const mine = await graphql<Mine>(offGatewayUrl, '{ me { payments(first: 5) { edges { node { amount } } } } }', { token: user.accessToken });
        expect(mine.data?.me.payments.edges.map(({ node }) => node.amount)).toEqual(['7.31']);
      });
    });

    browser('refreshes the session when the access token expires: the refused request is sent again, and the updates come back', async () => {
      await stack.stopSubgraph('auth');
      await stack.startSubgraph('auth', { ACCESS_TOKEN_TTL_SECONDS: '4' });
      await onPage(async ({ page, traffic }) => {
        try {
          const user = await newCustomer(offGatewayUrl);
          await signIn(page, user.email, PASSWORD);
          await payUntilSettledEventArrives(page);
          // The gateway closes a subscriber's WebSocket when its token expires (it showed that error, and the page stayed signed out).
          await page.locator('#updates', { hasText: '4401 The access token expired' }).waitFor({ timeout: 10_000 });
          // Connected again, it says so (it said "subscribing again…" until the next event).
          await page.locator('#updates', { hasText: /^Subscribed again after: .*4401 The access token expired/ }).waitFor({ timeout: 10_000 });
          expect((await myAccount(page)).auth).toBe(`${user.email}, USER`);
          await payUntilSettledEventArrives(page);
          expect(
            traffic.http.filter(({ url, body }) => (body?.operationName ?? url.searchParams.get('operationName')) === 'RefreshSession').length,
          ).toBeGreaterThan(0);
          expect(await page.textContent('#error')).toBe('');
        } finally {
          await stack.stopSubgraph('auth');
          await stack.startSubgraph('auth');
        }
      });
    });
  });

  describe('when its user changes, or the sign-in ends, or the gateway restarts', () => {
    const operationsSent = (traffic: Traffic, name: string) =>
      traffic.http.filter(({ url, body }) => (body?.operationName ?? url.searchParams.get('operationName')) === name).length;

    browser(
      "sends a wrong password once while someone is signed in (twice, after a refresh: 3 typos locked an account), then shows only the next user's data",
      async () => {
        await onPage(async ({ page, traffic }) => {
          const [first, second] = [await register(offGatewayUrl), await register(offGatewayUrl)];
          await signIn(page, first.email, PASSWORD);
          await myAccount(page);
          const [signIns, refreshes] = [operationsSent(traffic, 'SignIn'), operationsSent(traffic, 'RefreshSession')];
          await page.fill('#sign-in [name="email"]', second.email);
          await page.fill('#sign-in [name="password"]', 'not the password');
          await page.click('#sign-in button');
          await page.locator('#error', { hasText: 'UNAUTHENTICATED' }).waitFor({ timeout: 10_000 });
          expect({ signIns: operationsSent(traffic, 'SignIn') - signIns, refreshes: operationsSent(traffic, 'RefreshSession') - refreshes }).toEqual({
            signIns: 1,
            refreshes: 0,
          });
          // The first user's account stayed beside the second's name.
          await signIn(page, second.email, PASSWORD);
          expect({ account: await page.textContent('#account'), events: await page.textContent('#events') }).toEqual({ account: '', events: '' });
        });
      },
    );

    browser('says which gateway it could not reach, and what to check (it said "Failed to fetch")', async () => {
      const gatewayUrl = `http://127.0.0.1:${await freePort()}/graphql`;
      const client = await startClientServer({ port: 0, host: '127.0.0.1', gatewayUrl });
      await onPage(
        async ({ page }) => {
          try {
            await page.click('#my-account');
            await page.locator('#error', { hasText: `Could not reach the gateway at ${gatewayUrl}` }).waitFor({ timeout: 10_000 });
          } finally {
            await client.stop();
          }
        },
        client,
        gatewayUrl,
      );
    });

    browser('signs out, and subscribes no more, when the account is suspended (it tried again every 30 s, for ever)', async () => {
      await onPage(async ({ page, traffic }) => {
        const user = await register(offGatewayUrl);
        await signIn(page, user.email, PASSWORD);
        await payUntilSettledEventArrives(page);
        await administer(offGatewayUrl, await demoAdmin(offGatewayUrl), SUSPEND, { id: user.id, reason: 'example client test' });
        await page.locator('#session', { hasText: /^Signed out: .*suspended/ }).waitFor({ timeout: 15_000 });
        const subscribed = traffic.subscribes.length;
        await page.click('#my-account');
        await waitForText(page, '#account', /^Sign in first/);
        expect(traffic.subscribes.length).toBe(subscribed);
      });
    });

    browser('signs out when the user signs out everywhere elsewhere: the subscription ends with the token refused, and so is the refresh', async () => {
      await onPage(async ({ page }) => {
        const user = await register(offGatewayUrl);
        await signIn(page, user.email, PASSWORD);
        await payUntilSettledEventArrives(page);
        expect((await graphql(offGatewayUrl, 'mutation { logoutEverywhere }', { token: user.accessToken })).errors).toBeUndefined();
        await page.locator('#session', { hasText: /^Signed out: UNAUTHENTICATED/ }).waitFor({ timeout: 15_000 });
      });
    });

    browser(
      'ends the sign-in when the next user signs in, and when Sign out is clicked (the last one stayed live, its refresh token good for days)',
      async () => {
        await onPage(async ({ page }) => {
          /** Signs `user` in through the page and returns the refresh token the page was given. */
          const signInFor = async (user: SignedIn): Promise<string> => {
            const answer = page.waitForResponse(
              (response) => (response.request().postDataJSON() as { operationName?: string } | null)?.operationName === 'SignIn',
            );
            await signIn(page, user.email, PASSWORD);
            return ((await (await answer).json()) as { data: { login: { refreshToken: string } } }).data.login.refreshToken;
          };
          const refreshRefused = async (refreshToken: string) => {
            const answer = await graphql(offGatewayUrl, 'mutation ($t: String!) { refreshSession(refreshToken: $t) { accessToken } }', {
              variables: { t: refreshToken },
            });
            return answer.errors?.[0]?.extensions?.code === 'UNAUTHENTICATED';
          };
          const [first, second] = [await register(offGatewayUrl), await register(offGatewayUrl)];
          const firstToken = await signInFor(first);
          const secondToken = await signInFor(second);
          expect({ first: await refreshRefused(firstToken), second: await refreshRefused(secondToken) }).toEqual({ first: true, second: false });
          // The refresh just made ended the page's token pair: sign in again for one that is the page's.
          const thirdToken = await signInFor(second);
          await myAccount(page);
          await page.click('#sign-out');
          await waitForText(page, '#session', /^Not signed in\.$/);
          expect({ refused: await refreshRefused(thirdToken), account: await page.textContent('#account') }).toEqual({ refused: true, account: '' });
          await page.click('#my-account');
          await waitForText(page, '#account', /^Sign in first/);
        });
      },
    );

    browser(
      'shows nothing of the last user, and no error, for an answer that comes after Sign out (their account was shown on the signed-out page)',
      async () => {
        await onPage(async ({ page }) => {
          const user = await newCustomer(offGatewayUrl);
          await signIn(page, user.email, PASSWORD);
          // "My account" answered 1.5 s late, after the click on Sign out.
          let held = 0;
          await page.route(
            (url) => url.searchParams.get('operationName') === 'MyAccount',
            async (route) => {
              held += 1;
              await new Promise((resolve) => setTimeout(resolve, 1500));
              // Sign out may have ended the request, and the test the page, meanwhile.
              await route.continue().catch(() => undefined);
            },
          );
          const isRead = (request: Request) => new URL(request.url()).searchParams.get('operationName') === 'MyAccount';
          const over = Promise.race([page.waitForEvent('requestfinished', isRead), page.waitForEvent('requestfailed', isRead)]);
          await page.click('#my-account');
          await pollUntil('the read held', async () => held > 0 || undefined, { timeoutMs: 5000, intervalMs: 20 });
          await page.click('#sign-out');
          await waitForText(page, '#session', /^Not signed in\.$/);
          await over;
          // What the page does with the answer runs as it arrives: a round trip to the page comes after it.
          await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(resolve)));
          expect({ account: await page.textContent('#account'), error: await page.textContent('#error') }).toEqual({ account: '', error: '' });
        });
      },
    );

    browser('reads the account again when graphql-ws connects again by itself after a gateway restart (nothing from meanwhile is sent)', async () => {
      const settings = { PERSISTED_DOCUMENTS: 'off', GATEWAY_PORT: String(await freePort()) };
      const gateway = await stack.extraGateway(settings);
      const client = await startClientServer({ port: 0, host: '127.0.0.1', gatewayUrl: gateway.url });
      await onPage(
        async ({ page }) => {
          try {
            const user = await register(offGatewayUrl);
            await signIn(page, user.email, PASSWORD);
            await payUntilSettledEventArrives(page);
            expect((await myAccount(page)).payments).not.toContain('7.77');
            await gateway.server.stop();
            expect((await pay(offGatewayUrl, user, '7.77')).errors).toBeUndefined();
            await stack.extraGateway(settings);
            await page.locator('#account [data-from="payments"]', { hasText: '7.77 EUR' }).waitFor({ timeout: 20_000 });
          } finally {
            await client.stop();
          }
        },
        client,
        gateway.url,
      );
    });
  });

  describe('against a gateway without the manifest (PERSISTED_DOCUMENTS=off)', () => {
    browser('runs the same tour: the gateway learns each operation the first time (automatic persisted queries)', async () => {
      await onPage(
        async ({ page, traffic }) => {
          await tour(page, await newCustomer(offGatewayUrl));
          expect(await page.textContent('#error')).toBe('');
          // Each operation went by id first, then with its body, which is the manifest's (the gateway checks the body against the id).
          const withBody = traffic.http.filter(({ body }) => typeof body?.query === 'string');
          expect(withBody.length).toBeGreaterThan(0);
          for (const { body } of withBody) expect(body?.query).toBe(listed(String(body?.operationName)).body);
        },
        pages[1],
        offGatewayUrl,
      );
    });
  });
});
