import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { SERVICES, freePort } from '@fedstack/runtime';
import { httpStatus } from '@fedstack/scripts';
import { graphql } from '@fedstack/service-kit/testing';
import { ownerUrlFor, startEmbeddedPostgres, startEmbeddedReplica, type RunningPostgres, type ScratchDatabases } from '@fedstack/shared-db';
import { queryAt } from '@fedstack/shared-db/testing';
import { demoAdmin, login, within } from './clients';
import { DRILL_SETTINGS, expectRecovered, expectStoredOnce, leavePendingPayment, paymentLoad, reportWriteRefusal } from './payments-drill';
import { startProcessStackOn, untilWhileUp, type ProcessStack } from './processes';

/**
 * The failover drill of issue 24: a primary with a synchronous standby (`synchronous_standby_names`,
 * `synchronous_commit = on`), the stack reaching it through one stable address (a TCP proxy standing in
 * for the Kubernetes Service or PgBouncer), steady `createPayment` load; then the primary is killed
 * (kill -9), the standby promoted, and the address moved to it. Every payment a client saw acknowledged
 * must be on the promoted server exactly once; the processes recover without a restart; the outbox and
 * the payment recovery worker go on. How long writes were refused is printed. test/database-restart.test.ts
 * is the same drill without a standby.
 */
describe('failover to a synchronous standby under load', () => {
  const BOUND_MS = 45_000;
  let primaryDir: string;
  let standbyDir: string;
  let primary: RunningPostgres;
  let standby: RunningPostgres;
  let proxy: SwitchingProxy;
  let scratch: ScratchDatabases;
  let stack: ProcessStack;

  beforeAll(async () => {
    primaryDir = mkdtempSync(path.join(os.tmpdir(), 'fedstack-failover-primary-'));
    // Not made here: the replica's base backup makes it, owned by the user PostgreSQL runs as.
    standbyDir = `${primaryDir}-standby`;
    const [primaryPort, standbyPort, proxyPort] = [await freePort(), await freePort(), await freePort()];
    primary = await startEmbeddedPostgres({ dataDir: primaryDir, port: primaryPort, detached: true });
    standby = await startEmbeddedReplica({ primaryUrl: primary.url, dataDir: standbyDir, port: standbyPort, detached: true });
    // Synchronous from now on: a commit returns once the standby has flushed it.
    for (const statement of ["ALTER SYSTEM SET synchronous_standby_names = '*'", "ALTER SYSTEM SET synchronous_commit = 'on'", 'SELECT pg_reload_conf()'])
      await queryAt(primary.url, statement);
    await within(10_000, async () =>
      (await queryAt<{ state: string }>(primary.url, 'SELECT sync_state AS state FROM pg_stat_replication')).some((row) => row.state === 'sync'),
    );

    proxy = await switchingProxy(proxyPort, primaryPort);
    const throughProxy = new URL(primary.url);
    throughProxy.port = String(proxyPort);
    ({ stack, scratch } = await startProcessStackOn(throughProxy.toString(), DRILL_SETTINGS));
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    await proxy?.close();
    await standby?.stop().catch(() => undefined);
    await primary?.stop().catch(() => undefined);
    rmSync(primaryDir, { recursive: true, force: true });
    rmSync(standbyDir, { recursive: true, force: true });
  }, 60_000);

  const readiness = (service: string) =>
    httpStatus(`${new URL(String(stack.env[`${service.toUpperCase()}_SUBGRAPH_URL`])).origin}/readyz`, 5000).catch(() => 0);
  const until = (condition: () => boolean | Promise<boolean>) => untilWhileUp(stack, BOUND_MS, condition);

  it('loses no acknowledged payment, stores none twice, and serves again without a restart', async () => {
    const url = stack.gatewayUrl;
    const [admin, alice, bob, carol] = await Promise.all([
      demoAdmin(url),
      login(url, 'alice@example.com', 'user-demo-password'),
      login(url, 'bob@example.com', 'user-demo-password'),
      login(url, 'carol@example.com', 'user-demo-password'),
    ]);
    const paymentsUrl = ownerUrlFor('payments', scratch.env);
    const started = new Date();
    const load = paymentLoad(url, [alice, bob, carol], 'failover');
    let killedAt = 0;
    let leftPending: string | undefined;
    try {
      await until(() => load.acknowledged().length >= 20);
      // A payment whose request the primary's death cuts off between recording and settling.
      leftPending = await leavePendingPayment(paymentsUrl, alice.id);
      killedAt = Date.now();
      process.kill(-primary.pid, 'SIGKILL');
      // The operator's part: promote the standby, and point the stable address at it.
      const promoted = new URL(primary.url);
      promoted.port = new URL(standby.url).port;
      await queryAt(promoted.toString(), 'SELECT pg_promote(true, 30)');
      proxy.switchTo(Number(promoted.port));

      for (const service of SERVICES) await until(async () => (await readiness(service)) === 200);
      await until(() => load.acknowledgedSince(killedAt).length >= 20);
    } finally {
      await load.stop();
    }
    expect(reportWriteRefusal('failover drill', load, killedAt)).toBeLessThan(BOUND_MS);

    // Every acknowledged payment is on the promoted server, once.
    await expectStoredOnce(paymentsUrl, load.acknowledged());
    const lastPaid = load.acknowledged().at(-1)?.id;

    // The outbox relays go on: a refund after the failover reaches admin's audit log.
    const refund = await graphql<{ refundPayment: { id: string } }>(
      url,
      'mutation ($id: ID!) { refundPayment(input: { paymentId: $id, amount: "1.00" }, idempotencyKey: "failover-refund") { id } }',
      { token: admin.accessToken, variables: { id: lastPaid } },
    );
    expect(refund.errors).toBeUndefined();
    await until(
      async () =>
        (await queryAt(ownerUrlFor('admin', scratch.env), "SELECT 1 FROM admin.audit_entries WHERE action = 'payment.refund' AND target_id = $1", [lastPaid]))
          .length === 1,
    );
    // The recovery worker goes on: no payment of the drill is left PENDING, and the one cut off was settled by it on the promoted server.
    await expectRecovered(until, paymentsUrl, { since: started, leftPending, outageAt: new Date(killedAt) });
    expect(stack.unexpectedExits()).toEqual([]);
  }, 240_000);
});

interface SwitchingProxy {
  /** Sends new connections to `port`, and ends the ones open to the old target (as a moved Service does). */
  switchTo(port: number): void;
  close(): Promise<void>;
}

/** A TCP proxy on `port` to a PostgreSQL on `target`: the one address the stack knows. */
function switchingProxy(port: number, target: number): Promise<SwitchingProxy> {
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.on('close', () => open.delete(socket));
      socket.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  return new Promise((resolve) =>
    server.listen(port, '127.0.0.1', () =>
      resolve({
        switchTo(next) {
          target = next;
          for (const socket of open) socket.destroy();
        },
        close: () =>
          new Promise<void>((done) => {
            for (const socket of open) socket.destroy();
            server.close(() => done());
          }),
      }),
    ),
  );
}
