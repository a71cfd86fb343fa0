import { createServer, type Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { ASSERTION_REFUSED, pollUntil } from '@fedstack/runtime';
import { ASSERTION_CHECK_EVERY_MS, ASSERTION_CHECK_TIMEOUT_MS, assertionReadiness, type SubgraphTarget } from './assertion-check';

type Behaviour = 'refuses' | 'takes' | 'fails';

/** Stand-ins for subgraphs: one refusing the gateway's assertion as a subgraph does, one answering, one failing otherwise. */
describe("the gateway's readiness by its assertion", () => {
  const servers: Server[] = [];
  const asked: string[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
    asked.length = 0;
  });

  async function subgraph(name: string, behaviour: Behaviour): Promise<SubgraphTarget> {
    const server = createServer((req, res) => {
      asked.push(`${name} ${String(req.headers['x-gateway-assertion'])}`);
      res.setHeader('content-type', 'application/json');
      if (behaviour === 'refuses')
        res.writeHead(401).end(JSON.stringify({ errors: [{ message: 'no', extensions: { code: 'UNAUTHENTICATED', reason: ASSERTION_REFUSED } }] }));
      else if (behaviour === 'takes') res.writeHead(200).end(JSON.stringify({ data: { __typename: 'Query' } }));
      else res.writeHead(503).end(JSON.stringify({ errors: [{ message: 'database down' }] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    return { name, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql` };
  }

  const check = (targets: SubgraphTarget[], now: () => number = () => 0) =>
    assertionReadiness(
      () => targets,
      async (name) => `assertion-for-${name}`,
      now,
    );

  it('is not ready while every subgraph that answers refuses its assertion, naming the setting', async () => {
    const targets = [await subgraph('auth', 'refuses'), await subgraph('profile', 'refuses'), await subgraph('payments', 'fails')];
    await expect(check(targets)()).rejects.toThrow(/^the subgraphs refuse this gateway's assertion: their GATEWAY_PUBLIC_KEY does not hold its key/);
    expect(asked.sort()).toEqual(['auth assertion-for-auth', 'payments assertion-for-payments', 'profile assertion-for-profile']);
  });

  it.each<[string, Behaviour[]]>([
    ['one subgraph refuses while another takes it (that subgraph is misconfigured, not the gateway)', ['refuses', 'takes']],
    ['the subgraphs fail otherwise (down, no database)', ['fails', 'fails']],
    ['every subgraph takes it', ['takes', 'takes']],
  ])('is ready when %s', async (_label, behaviours) => {
    const targets = await Promise.all(behaviours.map((behaviour, index) => subgraph(`s${index}`, behaviour)));
    await expect(check(targets)()).resolves.toBeUndefined();
  });

  it('is ready when no subgraph can be reached at all', async () => {
    await expect(check([{ name: 'auth', url: 'http://127.0.0.1:1/graphql' }])()).resolves.toBeUndefined();
  });

  it('asks the subgraphs at most once a round, however often and however many at once it is asked; later, answers from the last round while it asks again', async () => {
    let clock = 0;
    const ready = check([await subgraph('auth', 'refuses')], () => clock);
    await Promise.all(Array.from({ length: 5 }, () => expect(ready()).rejects.toThrow()));
    clock += ASSERTION_CHECK_EVERY_MS - 1;
    await expect(ready()).rejects.toThrow();
    expect(asked).toHaveLength(1);
    clock += 1;
    // Stale: answered from the last round at once, and asked again meanwhile.
    await expect(ready()).rejects.toThrow();
    await pollUntil('asked again', async () => (asked.length === 2 ? true : undefined), { timeoutMs: 2000, intervalMs: 5 });
  });

  it('is not held up by a subgraph that takes the connection and answers nothing: the first check waits at most ASSERTION_CHECK_TIMEOUT_MS, the later ones not at all', async () => {
    const held = new Set<net.Socket>();
    const silent = net.createServer((socket) => held.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const hung = { name: 'payments', url: `http://127.0.0.1:${(silent.address() as AddressInfo).port}/graphql` };
      let clock = 0;
      const ready = check([hung, await subgraph('auth', 'takes')], () => clock);
      let started = performance.now();
      await expect(ready()).resolves.toBeUndefined();
      expect(performance.now() - started).toBeLessThan(ASSERTION_CHECK_TIMEOUT_MS + 500);
      clock += ASSERTION_CHECK_EVERY_MS;
      started = performance.now();
      await expect(ready()).resolves.toBeUndefined();
      expect(performance.now() - started).toBeLessThan(100);
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
