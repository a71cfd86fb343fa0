import { randomBytes } from 'node:crypto';
import { createConnection, createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, freePort, parseLsn, pollUntil } from '@fedstack/runtime';
import pg from 'pg';
import { createServiceClient, type ServiceClient } from './client';
import { startEmbeddedPostgres, type RunningPostgres } from './embedded';
import { startEmbeddedReplica } from './replica';
import { REPLICA_CHECK_INTERVAL_MS } from './replicas';
import { queryAt, signalServer } from './testing';

// Data directories straight under the temporary folder, which the server's user can reach (see replica.test.ts).
const dataDir = (name: string) => path.join(os.tmpdir(), `fedstack-replicas-test-${randomBytes(4).toString('hex')}-${name}`);
const SETTING = 'PROFILE_DATABASE_REPLICA_URL';
const whereAmI = { name: 'test_where', text: 'SELECT pg_is_in_recovery() AS replica' };
const readNote = { name: 'test_read_note', text: 'SELECT count(*)::int AS n FROM notes WHERE body = $1' };

/** A client of the primary that reads from `replicas`: the owner's connections, which is all these tests need of a service. */
function clientOf(primaryUrl: string, replicas: string[], replicaMaxLagMs: number): ServiceClient<'profile'> {
  return createServiceClient('profile', {
    url: primaryUrl,
    poolSize: 2,
    replicas: replicas.map((url) => ({ url, source: SETTING })),
    replicaMaxLagMs,
    replicaReadTimeoutMs: 500,
  });
}

/** One address in front of several servers, as a Kubernetes service over a cluster's standbys: each new connection goes to the next. */
async function spreading(servers: RunningPostgres[]): Promise<{ url: string; close(): Promise<void> }> {
  let next = 0;
  const proxy: Server = createServer((socket) => {
    const target = new URL((servers[next++ % servers.length] as RunningPostgres).url);
    const upstream = createConnection(Number(target.port), target.hostname);
    socket.pipe(upstream).pipe(socket);
    socket.on('error', () => upstream.destroy());
    upstream.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const url = new URL((servers[0] as RunningPostgres).url);
  url.port = String((proxy.address() as { port: number }).port);
  return { url: url.toString(), close: () => new Promise((resolve) => proxy.close(() => resolve())) };
}

async function untilUsable(client: ServiceClient<'profile'>, count = 1): Promise<void> {
  await pollUntil('the replicas usable', () => client.replicaStats().replicas.filter((replica) => replica.usable).length === count, {
    timeoutMs: 10_000,
  });
}

describe('reads from replicas', () => {
  let primary: RunningPostgres;
  let replica: RunningPostgres;
  let delayed: RunningPostgres;
  beforeAll(async () => {
    primary = await startEmbeddedPostgres({ dataDir: dataDir('primary'), port: await freePort(), ephemeral: true });
    await queryAt(primary.url, 'CREATE TABLE notes (body text)');
    replica = await startEmbeddedReplica({ primaryUrl: primary.url, dataDir: dataDir('replica'), port: await freePort(), ephemeral: true });
    delayed = await startEmbeddedReplica({
      primaryUrl: primary.url,
      dataDir: dataDir('delayed'),
      port: await freePort(),
      applyDelayMs: 3000,
      ephemeral: true,
    });
  });
  afterAll(async () => {
    // A test that ran out of time left its frozen server stopped.
    signalServer(replica, 'SIGCONT');
    await Promise.all([replica.stop(), delayed.stop()]);
    await primary.stop();
  });

  it('spreads reads over the replicas that are within the lag bound, and writes nothing there', async () => {
    const client = clientOf(primary.url, [replica.url, delayed.url], 60_000);
    try {
      await untilUsable(client, 2);
      const answers = [];
      for (let i = 0; i < 4; i += 1) answers.push(...(await client.readSql<{ replica: boolean }>(whereAmI, [])));
      expect(answers).toEqual(Array.from({ length: 4 }, () => ({ replica: true })));
      expect(client.replicaStats().served).toEqual({ primary: 0, replica: 4 });
      expect(await client.sql(whereAmI, [])).toEqual([{ replica: false }]);
    } finally {
      await client.$disconnect();
    }
  });

  it("reads the caller's own write, given the primary's position after it, even from a replica held back 3 s", async () => {
    const client = clientOf(primary.url, [delayed.url], 60_000);
    try {
      await untilUsable(client);
      const note = `note ${randomBytes(4).toString('hex')}`;
      await client.sqlTransaction((tx) => tx.$executeRawUnsafe('INSERT INTO notes VALUES ($1)', note));
      const written = await client.walPosition();
      // Without the position, the held-back replica answers: stale, as the ADR allows such a read to be.
      expect(await client.readSql(readNote, [note])).toEqual([{ n: 0 }]);
      // With it, the replica has not replayed that far, so the primary answers.
      expect(await client.readSql(readNote, [note], { minLsn: written })).toEqual([{ n: 1 }]);
      expect(client.replicaStats().served).toEqual({ primary: 1, replica: 1 });
      await pollUntil('the lag seen', () => (client.replicaStats().replicas[0]?.lagBytes ?? 0) > 0, { timeoutMs: 2000 });
      expect(client.replicaStats().replicas[0]).toMatchObject({ setting: SETTING, usable: true, lagMs: expect.any(Number) });
      // Once replayed, the replica serves it.
      await pollUntil('the write replayed', async () => (await queryAt<{ n: number }>(delayed.url, readNote.text, [note]))[0]?.n === 1, {
        timeoutMs: 10_000,
        intervalMs: 100,
      });
      expect(await client.readSql(readNote, [note], { minLsn: written })).toEqual([{ n: 1 }]);
      expect(client.replicaStats().served).toEqual({ primary: 1, replica: 2 });
    } finally {
      await client.$disconnect();
    }
  });

  it('gives a position at or past the commit of a write committed asynchronously (synchronous_commit off), which a replica may not hold yet', async () => {
    const client = clientOf(primary.url, [replica.url], 60_000);
    const writer = new pg.Client({ connectionString: primary.url });
    await writer.connect();
    try {
      // The commit record is in the WAL, not yet written out: pg_current_wal_lsn() (where WAL is written to) was behind it.
      await writer.query('SET synchronous_commit = off');
      await writer.query('INSERT INTO notes VALUES ($1)', [`note ${randomBytes(4).toString('hex')}`]);
      const committed = (await writer.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows[0]?.lsn as string;
      const position = await client.walPosition();
      expect({ position, atOrPast: (parseLsn(position) as bigint) >= (parseLsn(committed) as bigint) }).toEqual({ position, atOrPast: true });
    } finally {
      await writer.end();
      await client.$disconnect();
    }
  });

  it("reads the caller's own write when one address leads to several standbys, one of them behind", async () => {
    // The checks' connection is the first through the address (the replica that keeps up), the reads' the next ones.
    const address = await spreading([replica, delayed]);
    const client = clientOf(primary.url, [address.url], 60_000);
    try {
      await untilUsable(client);
      for (let write = 0; write < 3; write += 1) {
        const note = `note ${randomBytes(4).toString('hex')}`;
        await client.sqlTransaction((tx) => tx.$executeRawUnsafe('INSERT INTO notes VALUES ($1)', note));
        const written = await client.walPosition();
        // Read a moment later, as a client's next request does: the checks have seen the replica that keeps up replay the write.
        await pollUntil('the write replayed', async () => (await queryAt<{ n: number }>(replica.url, readNote.text, [note]))[0]?.n === 1, {
          timeoutMs: 5000,
          intervalMs: 20,
        });
        await new Promise((resolve) => setTimeout(resolve, 2 * REPLICA_CHECK_INTERVAL_MS));
        expect(await client.readSql(readNote, [note], { minLsn: written })).toEqual([{ n: 1 }]);
      }
    } finally {
      await client.$disconnect();
      await address.close();
    }
  });

  it('goes to the primary when a replica holds its connections and answers nothing, and keeps checking the others', async () => {
    const client = clientOf(primary.url, [replica.url, delayed.url], 60_000);
    try {
      await untilUsable(client, 2);
      for (let i = 0; i < 4; i += 1) await client.readSql(whereAmI, []);
      signalServer(replica, 'SIGSTOP');
      try {
        // Each read is answered, by the delayed replica or by the primary once the frozen one has had its time.
        for (let i = 0; i < 4; i += 1) expect(await client.readSql(whereAmI, [])).toHaveLength(1);
        expect(client.replicaStats().replicas[0]?.usable).toBe(false);
        // A start meanwhile skips it, as one that cannot be reached.
        await client.verifyReplicas();
        // The delayed replica is still checked: a write it has yet to replay shows as lag.
        await queryAt(primary.url, "INSERT INTO notes VALUES ('while frozen')");
        await pollUntil('the delayed replica’s lag seen', () => (client.replicaStats().replicas[1]?.lagBytes ?? 0) > 0, { timeoutMs: 2500 });
      } finally {
        signalServer(replica, 'SIGCONT');
      }
      await untilUsable(client, 2);
      expect(client.replicaStats().replicas[0]?.usable).toBe(true);
    } finally {
      await client.$disconnect();
    }
  });

  it('skips for a while a replica a read found taking no new connection, though it answers its checks (each read waited a second)', async () => {
    const client = clientOf(primary.url, [replica.url], 60_000);
    try {
      // The checks hold their connection; the reads' pool has none yet.
      await untilUsable(client);
      process.kill(replica.pid, 'SIGSTOP');
      try {
        // Its postmaster frozen: a new connection is never answered, the checks' one still is.
        expect(await client.readSql(whereAmI, [])).toEqual([{ replica: false }]);
        expect(client.replicaStats().replicas[0]?.usable).toBe(false);
        // Checks that answer do not bring it back at once.
        await new Promise((resolve) => setTimeout(resolve, 4 * REPLICA_CHECK_INTERVAL_MS));
        expect(client.replicaStats().replicas[0]).toMatchObject({ usable: false, lagBytes: 0 });
      } finally {
        process.kill(replica.pid, 'SIGCONT');
      }
    } finally {
      await client.$disconnect();
    }
  });

  it('has the primary serve a read the replica takes too long over, and stops it on the replica', async () => {
    const client = clientOf(primary.url, [replica.url], 60_000);
    const slowThere = { name: 'test_slow_there', text: 'SELECT pg_sleep(CASE WHEN pg_is_in_recovery() THEN 10 ELSE 0 END) IS NULL AS answered' };
    const stillThere = "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE '%pg_is_in_recovery() THEN 10%'";
    try {
      await untilUsable(client);
      expect(await client.readSql(slowThere, [])).toEqual([{ answered: false }]);
      expect(client.replicaStats().served).toEqual({ primary: 1, replica: 0 });
      // Cancelled by the replica itself, not left running for nobody.
      expect(await queryAt(replica.url, `${stillThere} AND pid <> pg_backend_pid() AND state = 'active'`)).toEqual([{ n: 0 }]);
    } finally {
      await client.$disconnect();
    }
  });

  it('skips a replica further behind than the bound', async () => {
    const client = clientOf(primary.url, [delayed.url], 500);
    try {
      await queryAt(primary.url, "INSERT INTO notes VALUES ('behind')");
      await pollUntil('the replica seen behind', () => (client.replicaStats().replicas[0]?.lagMs ?? 0) > 500, { timeoutMs: 5000 });
      expect(client.replicaStats().replicas[0]?.usable).toBe(false);
      expect(await client.readSql(whereAmI, [])).toEqual([{ replica: false }]);
    } finally {
      await client.$disconnect();
    }
  });

  it('refuses a wrong position rather than guess', async () => {
    const client = clientOf(primary.url, [replica.url], 60_000);
    try {
      await expect(client.readSql(whereAmI, [], { minLsn: 'yesterday' })).rejects.toThrow('not a WAL position: "yesterday"');
    } finally {
      await client.$disconnect();
    }
  });

  it('refuses at start a replica URL that points at a primary, at a replica of another cluster, at another database, or that refuses the role, naming the setting', async () => {
    const atPrimary = clientOf(primary.url, [primary.url], 60_000);
    const other = await startEmbeddedPostgres({ dataDir: dataDir('other'), port: await freePort(), ephemeral: true });
    const ofAnother = clientOf(other.url, [replica.url], 60_000);
    try {
      await expect(atPrimary.verifyReplicas()).rejects.toThrow(ConfigError);
      await expect(atPrimary.verifyReplicas()).rejects.toThrow(
        new RegExp(`^${SETTING}: postgres@127.0.0.1:\\d+/postgres is not a replica \\(pg_is_in_recovery\\(\\) is false there\\)`),
      );
      await expect(ofAnother.verifyReplicas()).rejects.toThrow(new RegExp(`^${SETTING}: postgres@127.0.0.1:\\d+/postgres is a replica of another cluster`));
      const otherDatabase = new URL(replica.url);
      otherDatabase.pathname = '/template1';
      const elsewhere = clientOf(primary.url, [otherDatabase.toString()], 60_000);
      await expect(elsewhere.verifyReplicas()).rejects.toThrow(
        new RegExp(`^${SETTING}: postgres@127.0.0.1:\\d+/template1 names the database "template1", but the service's is "postgres"`),
      );
      await elsewhere.$disconnect();
      const wrongPassword = new URL(replica.url);
      wrongPassword.password = 'not-the-password';
      const refused = clientOf(primary.url, [wrongPassword.toString()], 60_000);
      await expect(refused.verifyReplicas()).rejects.toThrow(
        new RegExp(`^${SETTING}: cannot connect to PostgreSQL at postgres@127.0.0.1:\\d+/postgres: the password was refused$`),
      );
      await refused.$disconnect();
      // The right one passes, and so do one that is down and one without the database yet (a database
      // created on the primary a moment ago, not yet replayed): skipped until they answer.
      const notYet = new URL(replica.url);
      notYet.pathname = '/not_yet_replayed';
      const right = clientOf(primary.url, [replica.url, `postgresql://postgres:x@127.0.0.1:${await freePort()}/postgres`, notYet.toString()], 60_000);
      await right.verifyReplicas();
      await right.$disconnect();
    } finally {
      await Promise.all([atPrimary.$disconnect(), ofAnother.$disconnect()]);
      await other.stop();
    }
  });

  it('skips a replica that stops, without an error, and uses it again once it is back', async () => {
    const port = await freePort();
    const dir = dataDir('stopped');
    const doomed = await startEmbeddedReplica({ primaryUrl: primary.url, dataDir: dir, port });
    const client = clientOf(primary.url, [doomed.url], 60_000);
    try {
      await untilUsable(client);
      expect(await client.readSql(whereAmI, [])).toEqual([{ replica: true }]);
      await doomed.stop();
      // Before any check has noticed: the read finds it gone and goes to the primary.
      expect(await client.readSql(whereAmI, [])).toEqual([{ replica: false }]);
      expect(client.replicaStats().replicas[0]?.usable).toBe(false);
      expect(await client.readSql(whereAmI, [])).toEqual([{ replica: false }]);
      // Its lag is unknown once a check finds it gone (it read 0, current, as a dashboard showed it).
      await pollUntil('a check finding it gone', () => client.replicaStats().replicas[0]?.lagBytes === undefined || undefined, { timeoutMs: 5000 });
      expect(client.replicaStats().replicas[0]).toMatchObject({ usable: false, lagMs: undefined });
      const back = await startEmbeddedReplica({ primaryUrl: primary.url, dataDir: dir, port, ephemeral: true });
      try {
        await untilUsable(client);
        expect(await client.readSql(whereAmI, [])).toEqual([{ replica: true }]);
      } finally {
        await back.stop();
      }
    } finally {
      await client.$disconnect();
    }
  });
});
