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

  it('fails the statements waiting on it within the bound, as the database being unavailable, runs none of them once it is back, and serves again', async () => {
    const client = createServiceClient('profile', { url: server.url, poolSize: 2, timeoutMs: 500 });
    try {
      expect(await client.sql({ name: 'test_one', text: 'SELECT 1 AS one' }, [])).toEqual([{ one: 1 }]);
      signalServer(server, 'SIGSTOP');
      const started = performance.now();
      let failures: unknown[];
      try {
        // Two transactions take both connections, and the rest wait in the pool's queue: as a burst of payments would.
        const writes = [
          ...[1, 2].map((n) => client.sqlTransaction((tx) => tx.sql(insert, [`in a transaction ${n}`]))),
          ...[1, 2, 3, 4, 5, 6].map((n) => client.sql(insert, [`queued ${n}`])),
        ];
        failures = (await Promise.allSettled(writes)).map((outcome): unknown => (outcome.status === 'rejected' ? outcome.reason : outcome.value));
      } finally {
        signalServer(server, 'SIGCONT');
      }
      // Within the bound (0.5 s to connect or wait for a connection, 1.5 s for an answer, once more for the rollback).
      expect(performance.now() - started).toBeLessThan(4000);
      expect(failures.map((failure) => isDatabaseUnavailable(failure))).toEqual(Array(8).fill(true));
      await pollUntil('the pool serving again', () => client.sql({ name: 'test_one', text: 'SELECT 1 AS one' }, []).catch(() => false), {
        timeoutMs: 5000,
      });
      // What its clients were told failed did not happen once the server came back.
      expect(await queryAt(server.url, 'SELECT count(*)::int AS n FROM notes')).toEqual([{ n: 0 }]);
    } finally {
      await client.$disconnect();
    }
  });
});
