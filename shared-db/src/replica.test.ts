import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, pollUntil } from '@fedstack/runtime';
import { startEmbeddedPostgres, type RunningPostgres } from './embedded';
import { startEmbeddedReplica } from './replica';
import { queryAt } from './testing';

// Data directories straight under the temporary folder: the server's user (`postgres`, when the tests run
// as root) must reach them, which a private folder made for them would not let it.
const dataDir = (name: string) => path.join(os.tmpdir(), `fedstack-replica-test-${randomBytes(4).toString('hex')}-${name}`);

describe('the embedded replica', () => {
  let primary: RunningPostgres;
  beforeAll(async () => {
    primary = await startEmbeddedPostgres({ dataDir: dataDir('primary'), port: await freePort(), ephemeral: true });
  });
  afterAll(() => primary.stop());

  it('is a standby of the primary, made by a base backup, that streams what the primary commits', async () => {
    await queryAt(primary.url, 'CREATE TABLE before_backup (n int); INSERT INTO before_backup VALUES (1)');
    const replica = await startEmbeddedReplica({ primaryUrl: primary.url, dataDir: dataDir('replica'), port: await freePort(), ephemeral: true });
    try {
      expect(await queryAt(replica.url, 'SELECT pg_is_in_recovery() AS recovery, (SELECT n FROM before_backup) AS n')).toEqual([{ recovery: true, n: 1 }]);
      const [system] = await queryAt<{ id: string }>(primary.url, 'SELECT system_identifier::text AS id FROM pg_control_system()');
      expect(await queryAt(replica.url, 'SELECT system_identifier::text AS id FROM pg_control_system()')).toEqual([system]);
      await queryAt(primary.url, 'CREATE TABLE after_backup (n int); INSERT INTO after_backup VALUES (2)');
      await pollUntil('the write reached the replica', async () => (await queryAt(replica.url, "SELECT to_regclass('after_backup') AS t"))[0]?.t !== null, {
        timeoutMs: 10_000,
        intervalMs: 50,
      });
      expect(await queryAt(replica.url, 'SELECT n FROM after_backup')).toEqual([{ n: 2 }]);
      await expect(queryAt(replica.url, 'INSERT INTO after_backup VALUES (3)')).rejects.toThrow(/read-only transaction/);
      // It streams through its slot, which keeps the WAL it has yet to receive.
      expect(await queryAt(primary.url, 'SELECT active FROM pg_replication_slots')).toEqual([{ active: true }]);
    } finally {
      await replica.stop();
    }
    // An ephemeral replica's slot goes with it.
    expect(await queryAt(primary.url, 'SELECT slot_name FROM pg_replication_slots')).toEqual([]);
  });

  it('is made anew once it has been promoted, which it refuses while the promoted server runs (npm start failed on it for good)', async () => {
    const options = { primaryUrl: primary.url, dataDir: dataDir('promoted'), port: await freePort() };
    try {
      const replica = await startEmbeddedReplica(options);
      try {
        await queryAt(replica.url, 'SELECT pg_promote()');
        await expect(startEmbeddedReplica(options)).rejects.toThrow(/was promoted and runs as a primary of its own: stop it/);
      } finally {
        await replica.stop();
      }
      const again = await startEmbeddedReplica(options);
      try {
        expect(await queryAt(again.url, 'SELECT pg_is_in_recovery() AS recovery')).toEqual([{ recovery: true }]);
      } finally {
        await again.stop();
      }
    } finally {
      await rm(options.dataDir, { recursive: true, force: true });
      await queryAt(primary.url, 'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active');
    }
  });

  it('holds replay back by recovery_min_apply_delay', async () => {
    const replica = await startEmbeddedReplica({
      primaryUrl: primary.url,
      dataDir: dataDir('delayed'),
      port: await freePort(),
      // Past the time a loaded machine takes to commit, read the position and ask the replica (2 s was not, once in CI).
      applyDelayMs: 5000,
      ephemeral: true,
    });
    try {
      await queryAt(primary.url, 'CREATE TABLE delayed_write (n int)');
      const [lsn] = await queryAt<{ lsn: string }>(primary.url, 'SELECT pg_current_wal_lsn()::text AS lsn');
      const replayed = async () =>
        (await queryAt<{ done: boolean }>(replica.url, 'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done', [lsn?.lsn]))[0]?.done;
      expect(await replayed()).toBe(false);
      await pollUntil('the delayed write was replayed', replayed, { timeoutMs: 20_000, intervalMs: 100 });
      expect(await queryAt(replica.url, "SELECT to_regclass('delayed_write')::text AS t")).toEqual([{ t: 'delayed_write' }]);
    } finally {
      await replica.stop();
    }
  });
});
