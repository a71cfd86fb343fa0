import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { pollUntil } from '@fedstack/runtime';
import { graphql } from '@fedstack/service-kit/testing';
import { pay, register } from './clients';
import { startStack, type RunningStack } from './stack';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const browser = existsSync(CHROMIUM) ? it : it.skip;

/** Apollo Client in a real browser, subscribed through the gateway with its WebSocket link (GraphQLWsLink). */
describe('a browser app subscribing with Apollo Client', () => {
  let stack: RunningStack;
  let pages: http.Server;
  let pageUrl: string;

  beforeAll(async () => {
    stack = await startStack();
    const bundle = await build({
      entryPoints: [path.join(__dirname, 'browser', 'apollo-subscription.ts')],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      define: { 'process.env.NODE_ENV': '"production"' },
      logLevel: 'silent',
    });
    const script = bundle.outputFiles[0]?.text ?? '';
    pages = http.createServer((request, response) => {
      if (request.url?.startsWith('/app.js')) return void response.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
      response
        .writeHead(200, { 'content-type': 'text/html' })
        .end('<!doctype html><title>app</title><body></body><script type="module" src="/app.js"></script>');
    });
    await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
    pageUrl = `http://127.0.0.1:${(pages.address() as AddressInfo).port}/`;
  }, 120_000);
  afterAll(async () => {
    await new Promise((resolve) => pages.close(resolve));
    await stack.stop();
  });

  browser('receives a payment event, with fields from three subgraphs', async () => {
    const user = await register(stack.gatewayUrl);
    await graphql(stack.gatewayUrl, 'mutation { updateMyProfile(input: { displayName: "Browser Buyer" }) { displayName } }', { token: user.accessToken });
    const instance = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-background-networking'] });
    try {
      const page = await instance.newPage();
      const ws = stack.gatewayUrl.replace(/^http/, 'ws');
      await page.goto(`${pageUrl}?${new URLSearchParams({ ws, token: user.accessToken })}`);
      // The app cannot tell when the gateway has subscribed upstream: pay until a payment arrives settled.
      const id = await pollUntil(
        'a payment event in the page',
        async () => {
          const paid = (await pay(stack.gatewayUrl, user, '8.00')).data?.createPayment.id;
          const events = (await page.evaluate(() => (globalThis as unknown as { events: unknown[] }).events)) as {
            paymentUpdated: { id: string; status: string };
          }[];
          return events.find((event) => event.paymentUpdated.status === 'SUCCEEDED' && event.paymentUpdated.id !== paid)?.paymentUpdated.id;
        },
        { timeoutMs: 30_000, intervalMs: 300 },
      );
      const events = (await page.evaluate(() => (globalThis as unknown as { events: unknown[] }).events)) as { paymentUpdated: Record<string, unknown> }[];
      expect(events.find((event) => event.paymentUpdated.id === id && event.paymentUpdated.status === 'SUCCEEDED')?.paymentUpdated).toEqual({
        __typename: 'Payment',
        id,
        status: 'SUCCEEDED',
        amount: '8.00',
        currency: 'EUR',
        user: { __typename: 'User', id: user.id, email: user.email, profile: { __typename: 'Profile', displayName: 'Browser Buyer' } },
      });
      expect(await page.evaluate(() => (globalThis as unknown as { errors: string[] }).errors)).toEqual([]);
    } finally {
      await instance.close();
    }
  });
});
