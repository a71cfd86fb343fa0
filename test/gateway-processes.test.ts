import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { REPOSITORY_ROOT, freePort, pollUntil, portIsFree } from '@fedstack/runtime';
import { graphql } from '@fedstack/service-kit/testing';
import { login, pay, register, within } from './clients';
import { startProcessStack, type ProcessStack } from './processes';
import { overWebSocket, wsClient } from './subscribers';

/** The gateway as a process of its own, as `npm start` and the containers run it. */
let stack: ProcessStack;
let starting: Promise<ProcessStack>;
beforeAll(async () => {
  // The breaker stays open 3 s, so that the frozen-subgraph test's asks meet it open with room to spare
  // on a slow machine (a trial call past CIRCUIT_RESET_MS would time out among them).
  starting = startProcessStack({ SUBGRAPH_TIMEOUT_MS: '1000', CIRCUIT_MIN_CALLS: '3', CIRCUIT_RESET_MS: '3000' });
  stack = await starting;
}, 120_000);
// Stopped even when starting outlasted the hook's time: it leaves nothing running.
afterAll(async () => (await starting).stop());

/**
 * The demo admin, signed in at auth itself, and new users registered there: through this stack's gateway,
 * the password's hash (argon2) could outlast the 1 s it gives a subgraph on a busy machine.
 */
const demoAdmin = () => login(String(stack.env.AUTH_SUBGRAPH_URL), 'admin@example.com', 'admin-demo-password');
const newUser = () => register(String(stack.env.AUTH_SUBGRAPH_URL));

/** Connections to a local port holding bytes that its (frozen) process has not read, from the kernel's table. */
function unreadConnections(port: number): number {
  const local = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter(([, address, , state, queues]) => address?.endsWith(local) && state === '01' && parseInt(queues?.split(':')[1] ?? '0', 16) > 0).length;
}

/**
 * A subgraph that hangs (SIGSTOP: its port still accepts connections, nothing answers) costs the first
 * few requests the subgraph timeout; then the gateway's circuit breaker answers at once, with the other
 * subgraphs' data and SUBGRAPH_UNAVAILABLE for its part, and closes again by itself once it answers.
 */
describe('a frozen subgraph', () => {
  const QUERY = '{ me { email profile { displayName } } }';
  type Me = { me: { email: string; profile: { displayName: string } | null } };

  it('is cut off after a few timeouts, with partial answers, and called again once it answers', async () => {
    const admin = await demoAdmin();
    const ask = () => graphql<Me>(stack.gatewayUrl, QUERY, { token: admin.accessToken });
    expect((await ask()).errors).toBeUndefined();

    const writer = await newUser();
    const rename = 'mutation { updateMyProfile(input: { displayName: "LATE-WRITE" }) { displayName } }';
    stack.freeze('profile');
    const sentAt = Date.now();
    try {
      // A write the gateway gave up on, answered as failed: profile, back, read it from its socket and made it.
      expect((await graphql(stack.gatewayUrl, rename, { token: writer.accessToken })).errors?.[0]?.extensions?.code).toBe('SUBGRAPH_UNAVAILABLE');
      // Each answer is partial; after a few timeouts they come at once, the subgraph not called.
      const messages: string[] = [];
      for (let call = 0; call < 5; call += 1) {
        const answer = await ask();
        expect(answer.data?.me).toEqual({ email: 'admin@example.com', profile: null });
        expect(answer.errors?.[0]?.extensions).toMatchObject({ code: 'SUBGRAPH_UNAVAILABLE', serviceName: 'profile' });
        messages.push(answer.errors?.[0]?.message ?? '');
      }
      const timedOut = messages.filter((message) => message === 'The profile subgraph did not answer within 1000 ms');
      expect(timedOut.length).toBeGreaterThanOrEqual(1);
      expect(timedOut.length).toBeLessThanOrEqual(3);
      expect(messages.slice(timedOut.length)).toEqual(
        Array(5 - timedOut.length).fill('The profile subgraph is failing and is not being called for a few seconds (circuit open)'),
      );
      // Past its deadline (the gateway's 1 s) and the second allowed for clocks, as a longer hang would be.
      await pollUntil('the write more than a second late', async () => Date.now() > sentAt + 2500 || undefined, { timeoutMs: 5000, intervalMs: 50 });
    } finally {
      stack.thaw('profile');
    }
    await within(10_000, async () => (await ask()).data?.me.profile !== null);
    expect((await ask()).errors).toBeUndefined();
    const mine = await graphql<{ me: { profile: { displayName: string | null } | null } }>(stack.gatewayUrl, '{ me { profile { displayName } } }', {
      token: writer.accessToken,
    });
    expect(mine.data?.me.profile?.displayName).not.toBe('LATE-WRITE');
  });
});

describe('a gateway of several workers', () => {
  /** One request on a connection of its own, so that the cluster hands requests to the workers in turn. */
  const post = (url: string, body: string) =>
    new Promise<number>((resolve, reject) => {
      const request = http.request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      });
      request.on('error', reject);
      request.end(body);
    });

  it("shows every worker's requests in one scrape of its metrics port", async () => {
    const metricsPort = await freePort();
    await stack.crash('gateway');
    const before = stack.output('gateway').length;
    // At info, each worker says when it listens: the gateway is ready once one of them does.
    await stack.start('gateway', { GATEWAY_WORKERS: '2', METRICS_PORT: String(metricsPort), LOG_LEVEL: 'info' });
    // Both, before one is killed: the cluster's primary closes the shared port while no worker listens on
    // it, so killing the only one listening (the other still starting) would refuse the requests below.
    const listening = () =>
      [
        ...stack
          .output('gateway')
          .slice(before)
          .matchAll(/"pid":(\d+)[^\n]*"msg":"gateway listening"/g),
      ].map((match) => match[1]);
    await pollUntil('both workers listening', async () => (new Set(listening()).size === 2 ? true : undefined), { timeoutMs: 30_000, intervalMs: 20 });
    const requests = 12;
    for (let index = 0; index < requests; index += 1) {
      expect(await post(stack.gatewayUrl, JSON.stringify({ query: '{ __typename }', operationName: null }))).toBe(200);
    }
    const scrape = async () => {
      const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(response.status).toBe(200);
      return [...(await response.text()).matchAll(/^graphql_requests_total\{[^}]*\} (\d+)$/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
    };
    expect(await scrape()).toBe(requests);
    // A worker that dies takes nothing out of the sums (Prometheus would read a fall as a counter reset,
    // and every rate would spike), and its replacement, while it starts, holds no scrape up.
    const workers = () =>
      execFileSync('pgrep', ['-P', String(stack.pid('gateway'))])
        .toString()
        .trim()
        .split('\n');
    const dying = workers()[0] as string;
    process.kill(Number(dying), 'SIGKILL');
    await pollUntil('the worker gone', async () => (workers().includes(dying) ? undefined : true), { timeoutMs: 5000, intervalMs: 20 });
    expect(await scrape()).toBe(requests);
    await pollUntil('its replacement', async () => (new Set(listening()).size === 3 ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 });
    expect(workers()).toHaveLength(2);
    expect(await scrape()).toBe(requests);
    // Nothing is served on the API port's /metrics: a worker's own figures would be a fraction.
    expect((await fetch(stack.gatewayUrl.replace('/graphql', '/metrics'))).status).toBe(404);
  });

  it("serves subscriptions from every worker: each connection is one worker's, and every subscriber gets every event once", async () => {
    await stack.crash('gateway');
    // The stack's 1 s for a subgraph's answer is for the frozen-subgraph test; a payment on a busy machine may need more.
    await stack.start('gateway', { GATEWAY_WORKERS: '2', SUBGRAPH_TIMEOUT_MS: '10000' });
    const user = await newUser();
    // Connections of their own, which the cluster hands to the workers in turn.
    const clients = Array.from({ length: 4 }, () => wsClient(stack.gatewayUrl, user.accessToken));
    try {
      const subscriptions = clients.map((client) => overWebSocket(client, 'subscription { paymentUpdated { id status user { email } } }'));
      // Pay until every subscriber has seen one (a client cannot tell when its subscription went live).
      await pollUntil(
        'every subscriber live',
        async () => {
          await pay(stack.gatewayUrl, user);
          return subscriptions.every((subscription) => subscription.pending.length > 0);
        },
        { timeoutMs: 30_000, intervalMs: 300 },
      );
      const id = (await pay(stack.gatewayUrl, user, '7.00')).data?.createPayment.id as string;
      const ofPayment = (result: { data?: Record<string, unknown> | null }) => (result.data?.paymentUpdated as { id: string } | undefined)?.id === id;
      for (const subscription of subscriptions) {
        // Two events, recorded and settled; each reads the payment as it is when handled, so the first
        // may already show it settled.
        const recorded = await subscription.until(ofPayment);
        const settled = await subscription.until(ofPayment);
        expect(recorded.data?.paymentUpdated).toEqual({ id, status: expect.stringMatching(/^(PENDING|SUCCEEDED)$/), user: { email: user.email } });
        expect(settled.data?.paymentUpdated).toEqual({ id, status: 'SUCCEEDED', user: { email: user.email } });
        expect(subscription.pending.filter(ofPayment)).toEqual([]);
      }
    } finally {
      for (const client of clients) await client.dispose();
    }
  });
  it('starts another worker after a growing wait, not in a loop, when the one that died cannot be replaced', async () => {
    const folder = mkdtempSync(path.join(os.tmpdir(), 'fedstack-supergraph-'));
    const file = path.join(folder, 'supergraph.graphql');
    copyFileSync(path.join(REPOSITORY_ROOT, 'supergraph.graphql'), file);
    await stack.crash('gateway');
    const since = stack.output('gateway').length;
    await stack.start('gateway', { GATEWAY_WORKERS: '2', SUPERGRAPH_FILE: file, SUPERGRAPH_POLL_MS: '100', LOG_LEVEL: 'info' });
    const said = (pattern: RegExp) => [...stack.output('gateway').slice(since).matchAll(pattern)];
    try {
      // The gateway is ready once one worker listens; the other, still starting, would read the bad file
      // below at start and fail instead of refusing it.
      await pollUntil('both workers listening', async () => (said(/gateway listening/g).length >= 2 ? true : undefined), {
        timeoutMs: 20_000,
        intervalMs: 100,
      });
      // A supergraph the running workers refuse (and keep serving the old one), which a new worker cannot start on.
      writeFileSync(file, 'not a supergraph');
      await pollUntil('both workers refusing the new supergraph', async () => (said(/new supergraph refused/g).length >= 2 ? true : undefined), {
        timeoutMs: 10_000,
        intervalMs: 100,
      });
      const workers = execFileSync('pgrep', ['-P', String(stack.pid('gateway'))])
        .toString()
        .trim()
        .split('\n')
        .map(Number);
      // Each worker's lines carry its process id, the one the primary names when that worker exits.
      const listening = said(/^\{.*"msg":"gateway listening".*$/gm).map(([line]) => (JSON.parse(line) as { pid: number }).pid);
      expect(listening.sort()).toEqual([...workers].sort());
      const [worker] = workers;
      process.kill(worker as number, 'SIGKILL');
      const restarts = await pollUntil(
        'three restarts',
        async () => {
          const found = said(/starting another in (\d+) s/g).map((match) => Number(match[1]));
          return found.length >= 3 ? found : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      expect(restarts.slice(0, 3)).toEqual([1, 2, 4]);
      expect(stack.output('gateway')).toContain(`gateway worker ${worker} exited (SIGKILL)`);
      // The other worker serves meanwhile.
      expect((await graphql(stack.gatewayUrl, '{ __typename }')).data).toEqual({ __typename: 'Query' });
    } finally {
      await stack.crash('gateway');
      await stack.start('gateway');
      rmSync(folder, { recursive: true, force: true });
    }
  });
});

/**
 * SIGTERM stops every process gracefully and promptly, as orchestrators expect. Apollo Server's own
 * signal handler (on outside NODE_ENV=test) raced ours: its stop left a second stop() waiting forever,
 * so every process hung until SIGKILL.
 */
describe('SIGTERM', () => {
  it('stops a subgraph and a gateway of several workers, after traffic, with exit code 0 (each wrote its compile cache once ready)', async () => {
    const admin = await demoAdmin();
    // Node writes its compile cache as a process exits unless told earlier: a worker whose primary had died
    // spent a second or more writing it with its kept-alive connections still open, and reset the next
    // request a client sent on one. Every process has written it once ready (a killed one leaves it too).
    const cache = mkdtempSync(path.join(os.tmpdir(), 'fedstack-compile-cache-test-'));
    const written = () => readdirSync(cache, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile()).length;
    try {
      for (const name of ['profile', 'gateway'] as const) {
        await stack.crash(name);
        const before = written();
        const gateway = { GATEWAY_WORKERS: '2', SUBGRAPH_TIMEOUT_MS: '10000' };
        await stack.start(name, { NODE_ENV: 'development', NODE_COMPILE_CACHE: cache, ...(name === 'gateway' ? gateway : {}) });
        expect({ name, written: written() > before }).toEqual({ name, written: true });
      }
      for (let call = 0; call < 5; call += 1) {
        expect((await graphql(stack.gatewayUrl, '{ me { email profile { displayName } } }', { token: admin.accessToken })).errors).toBeUndefined();
      }
      for (const name of ['gateway', 'profile'] as const) {
        const exit = await stack.terminate(name);
        expect({ name, code: exit.code, signal: exit.signal, quick: exit.ms < 5000 }).toEqual({ name, code: 0, signal: null, quick: true });
      }
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });

  it('stops with exit code 0, and says it left its last spans, when the trace collector takes none', async () => {
    // A collector that accepts connections and never answers: the exporter waits 10 s for each export.
    const sockets = new Set<net.Socket>();
    const collector = net.createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    try {
      if (stack.pid('gateway') !== undefined) await stack.terminate('gateway');
      const port = (collector.address() as net.AddressInfo).port;
      await stack.start('gateway', { GATEWAY_WORKERS: '1', OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_TRACES_SAMPLER: 'always_on' });
      expect((await graphql(stack.gatewayUrl, '{ __typename }')).data).toEqual({ __typename: 'Query' });
      const exit = await stack.terminate('gateway');
      expect({ code: exit.code, said: stack.output('gateway').includes('spans left unsent on the way out') }).toEqual({ code: 0, said: true });
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => collector.close(resolve));
    }
  });

  it('is not needed when the npm start that started a gateway of several workers and a subgraph dies: they stop, and free their ports', async () => {
    for (const name of ['profile', 'gateway'] as const) {
      if (stack.pid(name) !== undefined) await stack.terminate(name);
      await stack.start(name, name === 'gateway' ? { GATEWAY_WORKERS: '2' } : {});
    }
    for (const name of ['gateway', 'profile'] as const) {
      const exit = await stack.terminate(name, 'starter gone');
      expect({ name, code: exit.code, signal: exit.signal, quick: exit.ms < 5000 }).toEqual({ name, code: 0, signal: null, quick: true });
    }
    expect(await portIsFree(Number(new URL(stack.gatewayUrl).port), '127.0.0.1')).toBe(true);
    expect(stack.output('gateway')).toContain('the process that started it has exited; stopping');
  });

  it('fails, saying why, when a worker cannot close its connections within SHUTDOWN_GRACE_MS (the primary exited 0)', async () => {
    await stack.start('profile');
    // Calls that outlast the time the stop takes to come, however loaded the machine: with the file's 1 s,
    // a stop that came later found them timed out, nothing to wait for, and exited 0.
    await stack.start('gateway', { GATEWAY_WORKERS: '2', SHUTDOWN_GRACE_MS: '300', SUBGRAPH_TIMEOUT_MS: '10000' });
    const admin = await demoAdmin();
    stack.freeze('profile');
    try {
      // Calls to the frozen profile under way, which each worker's pools wait out (SUBGRAPH_TIMEOUT_MS) as they close.
      const asking = Array.from({ length: 4 }, () =>
        graphql(stack.gatewayUrl, '{ me { profile { displayName } } }', { token: admin.accessToken }).catch(() => undefined),
      );
      // Stopped once profile holds requests it has not read: stopped sooner, a worker still planning its
      // first request would fail it at once, with nothing left to wait for.
      const profilePort = Number(new URL(String(stack.env.PROFILE_SUBGRAPH_URL)).port);
      await pollUntil('requests waiting at the frozen profile', async () => unreadConnections(profilePort) > 0 || undefined, {
        timeoutMs: 10_000,
        intervalMs: 20,
      });
      const exit = await stack.terminate('gateway');
      expect({ code: exit.code, said: stack.output('gateway').includes('could not close its connections within 300 ms') }).toEqual({ code: 1, said: true });
      await Promise.all(asking);
    } finally {
      stack.thaw('profile');
    }
  });
});
