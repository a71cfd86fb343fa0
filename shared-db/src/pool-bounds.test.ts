import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { freePort, pollUntil } from '@fedstack/runtime';
import { createServiceClient } from './client';
import { startEmbeddedPostgres, type RunningPostgres } from './embedded';
import { isDatabaseUnavailable } from './errors';
import { queryAt, signalServer } from './testing';

const insert = { name: 'test_insert_note', text: 'INSERT INTO notes VALUES ($1)' };

describe('a service’s database that stops answering', () => {
  let server: RunningPostgres;
  beforeAll(async () => {
    const dataDir = path.join(os.tmpdir(), `fedstack-pool-bounds-test-${randomBytes(4).toString('hex')}`);
    server = await startEmbeddedPostgres({ dataDir, port: await freePort(), ephemeral: true });
    await queryAt(server.url, 'CREATE TABLE notes (body text)');
  });
  afterAll(async () => {
    // A test that ran out of time left it stopped.
    signalServer(server, 'SIGCONT');
    await server.stop();
  });

  it('fails the statements waiting for a connection within the bound, as the database being unavailable, and none of them runs once it is back', async () => {
    const client = createServiceClient('profile', { url: server.url, poolSize: 2, timeoutMs: 500 });
    try {
      // Both connections open, and idle in the pool.
      const pause = { name: 'test_pause', text: 'SELECT pg_sleep(0.1) IS NULL AS slept' };
      expect(await Promise.all([client.sql(pause, []), client.sql(pause, [])])).toEqual([[{ slept: false }], [{ slept: false }]]);
      signalServer(server, 'SIGSTOP');
      let sent: Promise<unknown>[] = [];
      try {
        // Two transactions take both connections and wait on the server; the rest wait in the pool's queue, as a burst of payments would.
        sent = [1, 2].map((n) => client.sqlTransaction((tx) => tx.sql(insert, [`in a transaction ${n}`])));
        const started = performance.now();
        const queued = await Promise.allSettled([1, 2, 3, 4, 5, 6].map((n) => client.sql(insert, [`queued ${n}`])));
        expect(performance.now() - started).toBeLessThan(2000);
        expect(queued.map((outcome) => outcome.status === 'rejected' && isDatabaseUnavailable(outcome.reason))).toEqual(Array(6).fill(true));
      } finally {
        signalServer(server, 'SIGCONT');
      }
      // What was sent before the server stopped answering goes on once it is back; what its clients were told failed never runs.
      await Promise.all(sent);
      await pollUntil('the pool serving again', () => client.sql({ name: 'test_one', text: 'SELECT 1 AS one' }, []).catch(() => false), { timeoutMs: 5000 });
      expect(await queryAt(server.url, 'SELECT body FROM notes ORDER BY body')).toEqual([{ body: 'in a transaction 1' }, { body: 'in a transaction 2' }]);
    } finally {
      await client.$disconnect();
    }
  });
});
