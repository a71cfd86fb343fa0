import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SERVICES, freePort } from '@fedstack/runtime';
import { httpStatus } from '@fedstack/scripts';
import { graphql, type GraphQLResponse } from '@fedstack/service-kit/testing';
import { ownerUrlFor, startEmbeddedPostgres, type RunningPostgres, type ScratchDatabases } from '@fedstack/shared-db';
import { queryAt } from '@fedstack/shared-db/testing';
import { demoAdmin, login, pay } from './clients';
import { DRILL_SETTINGS, expectRecovered, expectStoredOnce, leavePendingPayment, pace, paymentLoad, reportWriteRefusal } from './payments-drill';
import { startProcessStackOn, untilWhileUp, type ProcessStack } from './processes';

/**
 * The database server dies (kill -9 of the postmaster, as in a crash or a failover) under steady load
 * and comes back on the same data and port: every process of the stack stays up, says it is not ready
 * meanwhile, answers requests with a clear error rather than hanging or crashing, and serves again once
 * the server is back; an event in flight is delivered. It is also issue 24's failover drill without a
 * standby (test/failover.test.ts), with its guarantees: every payment a client saw acknowledged is stored
 * exactly once, the outbox relays and the payment recovery worker go on, and how long writes were refused
 * is printed. The stack runs as child processes, as `npm start` runs it, on a PostgreSQL of this test's
 * own, so that a crash is a process that exits.
 */
describe('PostgreSQL killed under load and restarted', () => {
  const BOUND_MS = 30_000;
  /** How soon after the server is back writes are accepted again. */
  const WRITES_BACK_MS = 10_000;
  let dataDir: string;
  let port: number;
  let server: RunningPostgres;
  let scratch: ScratchDatabases;
  let stack: ProcessStack;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'fedstack-restart-'));
    port = await freePort();
    // Detached: the server leads a process group of its own, which tells when all of it has gone.
    server = await startEmbeddedPostgres({ dataDir, port, detached: true });
    ({ stack, scratch } = await startProcessStackOn(server.url, DRILL_SETTINGS));
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const ownerQuery = <R extends Record<string, unknown>>(service: (typeof SERVICES)[number], text: string, values: unknown[] = []) =>
    queryAt<R>(ownerUrlFor(service, scratch.env), text, values);
  const serviceUrl = (service: string) => new URL(String(stack.env[`${service.toUpperCase()}_SUBGRAPH_URL`]));
  const readiness = (service: string) => httpStatus(`${serviceUrl(service).origin}/readyz`, 5000).catch(() => 0);
  /** Whether a service's scrape holds PostgreSQL's own figures (read from the database at each scrape). */
  const showsDatabaseFigures = async (service: string) => {
    const response = await fetch(`${serviceUrl(service).origin}/metrics`, { signal: AbortSignal.timeout(5000) });
    return { status: response.status, figures: /^pg_(table_live_rows|connections)\{/m.test(await response.text()) };
  };
  const until = (condition: () => boolean | Promise<boolean>) => untilWhileUp(stack, BOUND_MS, condition);

  it('every process stays up, unready and answering clearly meanwhile, and serves again once the server is back', async () => {
    const url = stack.gatewayUrl;
    const [admin, alice, bob, carol] = await Promise.all([
      demoAdmin(url),
      login(url, 'alice@example.com', 'user-demo-password'),
      login(url, 'bob@example.com', 'user-demo-password'),
      login(url, 'carol@example.com', 'user-demo-password'),
    ]);
    const paymentsUrl = ownerUrlFor('payments', scratch.env);
    const started = new Date();
    const payments = paymentLoad(url, [alice, bob, carol], 'restart');
    const load = steadyLoad({
      login: () => graphql(url, 'mutation { login(input: { email: "bob@example.com", password: "user-demo-password" }) { accessToken } }'),
      profile: () =>
        graphql(url, 'mutation ($name: String!) { updateMyProfile(input: { displayName: $name }) { displayName } }', {
          token: carol.accessToken,
          variables: { name: `Carol ${Math.random()}` },
        }),
      read: () =>
        graphql(url, '{ me { email profile { displayName } payments(first: 5) { edges { node { amount } } } paymentTotals { amount } } }', {
          token: bob.accessToken,
        }),
    });
    let killedAt = 0;
    let restartedAt = 0;
    let leftPending: string | undefined;
    try {
      await until(() => load.everyKindSucceeded('before') && payments.acknowledged().length >= 20);
      for (const service of SERVICES) expect({ service, ...(await showsDatabaseFigures(service)) }).toEqual({ service, status: 200, figures: true });

      // An event in flight across the outage: a refund's audit entry, being delivered to an admin that
      // answers nothing (frozen), so that the delivery is still under way when the database dies and its
      // failure is recorded against a database that is gone. Until the outbox ran on the background
      // queue, that write's failure went unhandled and took payments down.
      const paid = await pay(url, alice, '2.50', 'restart-refunded');
      const paymentId = paid.data?.createPayment.id as string;
      stack.freeze('admin');
      const refund = await graphql(
        url,
        'mutation ($id: ID!) { refundPayment(input: { paymentId: $id, amount: "1.00" }, idempotencyKey: "restart-refund") { id } }',
        {
          token: admin.accessToken,
          variables: { id: paymentId },
        },
      );
      expect(refund.errors).toBeUndefined();
      const event = `destination = 'admin' AND payload ->> 'targetId' = $1`;
      // Claimed by the relay: its delivery is under way.
      await until(async () => (await ownerQuery('payments', `SELECT 1 FROM payments.outbox WHERE ${event} AND attempts > 0`, [paymentId])).length === 1);

      // A payment whose request the server's death cuts off between recording and settling.
      leftPending = await leavePendingPayment(paymentsUrl, alice.id);
      load.phase = 'outage';
      killedAt = Date.now();
      process.kill(server.pid, 'SIGKILL');
      stack.thaw('admin');
      for (const service of SERVICES) await until(async () => (await readiness(service)) === 503);
      await until(() => load.everyKindFailed('outage') && payments.refusals().length > 0);

      // The old server's processes have all gone (its backends end when they see the postmaster gone).
      await until(() => !processGroupAlive(server.pid));
      // Metrics are what an operator looks at now: still served, and without the database's figures once a
      // scrape has asked for them (they are read at most once a second), which had stayed at their last
      // values as though nothing had happened.
      for (const service of SERVICES) {
        await until(async () => {
          const scrape = await showsDatabaseFigures(service);
          return scrape.status === 200 && !scrape.figures;
        });
      }
      server = await startEmbeddedPostgres({ dataDir, port, detached: true });
      restartedAt = Date.now();
      load.phase = 'after';
      for (const service of SERVICES) await until(async () => (await readiness(service)) === 200);
      await until(() => load.everyKindSucceeded('after') && payments.acknowledgedSince(restartedAt).length >= 20);
      await until(
        async () =>
          (await ownerQuery('admin', "SELECT 1 FROM admin.audit_entries WHERE action = 'payment.refund' AND target_id = $1", [paymentId])).length === 1,
      );
    } finally {
      await Promise.all([load.stop(), payments.stop()]);
    }
    // How long writes were refused: from the first refused to the first accepted after (so with the time
    // the server was down, the test's checks meanwhile included), and how much of it after the server was back.
    const refusedMs = reportWriteRefusal('database restart drill', payments, killedAt);
    const writesBackMs = (payments.writeRefusal(killedAt)?.to ?? Number.NaN) - restartedAt;
    console.log(`database restart drill: PostgreSQL down for ${restartedAt - killedAt} ms; writes accepted again ${writesBackMs} ms after it was back`);
    expect(refusedMs).toBeGreaterThan(0);
    expect(refusedMs).toBeLessThan(BOUND_MS);
    expect(writesBackMs).toBeLessThan(WRITES_BACK_MS);

    expect(stack.unexpectedExits()).toEqual([]);
    expect(load.errors('before')).toEqual([]);
    expect(payments.refusals().filter((refusal) => refusal.at <= killedAt)).toEqual([]);
    // Nothing but JSON log lines: no stack trace printed by a crash or an unhandled error.
    for (const name of ['gateway', ...SERVICES] as const) {
      expect({
        name,
        printed: stack
          .output(name)
          .split('\n')
          .filter((line) => line.trim() && !line.startsWith('{')),
      }).toEqual({ name, printed: [] });
    }
    // What failed meanwhile said so, naming the service, with no internals.
    for (const failure of [...load.errors('outage'), ...load.errors('after'), ...payments.refusals()]) {
      expect(failure).toMatchObject({ code: 'SUBGRAPH_UNAVAILABLE', message: expect.stringMatching(/^The (auth|profile|payments|admin) (service|subgraph) /) });
      expect(failure.message).not.toMatch(/prisma|invocation|ECONNREFUSED|57P0|terminat/i);
    }
    // Every payment acknowledged is stored, once.
    await expectStoredOnce(paymentsUrl, payments.acknowledged());
    // The recovery worker goes on: no payment of the drill is left PENDING, and the one cut off was settled by it after the restart.
    await expectRecovered(until, paymentsUrl, { since: started, leftPending, outageAt: new Date(killedAt) });
  }, 180_000);
});

/** True while any process of the group `leader` led exists. */
function processGroupAlive(leader: number): boolean {
  try {
    process.kill(-leader, 0);
    return true;
  } catch {
    return false;
  }
}

type Phase = 'before' | 'outage' | 'after';
interface Failure {
  kind: string;
  code: unknown;
  message: string;
}

/**
 * Each kind of request sent again at the drill's `pace()` after the last one answered, until stopped, with what
 * each answer was in each phase. An answer that never comes holds its kind up, which the test's bounds catch.
 */
function steadyLoad(kinds: Record<string, () => Promise<GraphQLResponse>>) {
  let stopped = false;
  const successes = new Map<string, number>();
  const failures: (Failure & { phase: Phase })[] = [];
  const state = { phase: 'before' as Phase };
  const loops = Object.entries(kinds).map(async ([kind, send]) => {
    while (!stopped) {
      try {
        const answer = await send();
        // Counted in the phase it was answered in: a request under way when the server died fails then.
        const phase = state.phase;
        const [error] = answer.errors ?? [];
        if (error) failures.push({ phase, kind, code: error.extensions?.code, message: error.message });
        else successes.set(`${phase}:${kind}`, (successes.get(`${phase}:${kind}`) ?? 0) + 1);
      } catch (error) {
        failures.push({ phase: state.phase, kind, code: 'NO_ANSWER', message: (error as Error).message });
      }
      await pace();
    }
  });
  return {
    get phase() {
      return state.phase;
    },
    set phase(phase: Phase) {
      state.phase = phase;
    },
    everyKindSucceeded: (phase: Phase) => Object.keys(kinds).every((kind) => (successes.get(`${phase}:${kind}`) ?? 0) > 0),
    everyKindFailed: (phase: Phase) => Object.keys(kinds).every((kind) => failures.some((failure) => failure.phase === phase && failure.kind === kind)),
    errors: (phase: Phase): Failure[] => failures.filter((failure) => failure.phase === phase).map(({ kind, code, message }) => ({ kind, code, message })),
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}
