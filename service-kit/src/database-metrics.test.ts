import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { ServiceMetrics, createLogger, freePort, pollUntil } from '@fedstack/runtime';
import { createServiceClient, startEmbeddedPostgres, startEmbeddedReplica, type RunningPostgres } from '@fedstack/shared-db';
import { databaseMetrics } from './database-metrics';

// Data directories straight under the temporary folder, which the server's user can reach.
const dataDir = (name: string) => path.join(os.tmpdir(), `fedstack-metrics-test-${randomBytes(4).toString('hex')}-${name}`);

describe("a subgraph's replica metrics", () => {
  let primary: RunningPostgres;
  let replica: RunningPostgres;
  beforeAll(async () => {
    primary = await startEmbeddedPostgres({ dataDir: dataDir('primary'), port: await freePort(), ephemeral: true });
    replica = await startEmbeddedReplica({ primaryUrl: primary.url, dataDir: dataDir('replica'), port: await freePort(), ephemeral: true });
  });
  afterAll(async () => {
    await replica.stop();
    await primary.stop();
  });

  it('show each replica, how far behind it is and whether it serves, and where the possibly-stale reads ran', async () => {
    const metrics = new ServiceMetrics({ service: 'profile' });
    const database = databaseMetrics(metrics, 'profile', createLogger('profile', 'silent'));
    const db = createServiceClient('profile', { url: primary.url, poolSize: 1, replicas: [{ url: replica.url, source: 'PROFILE_DATABASE_REPLICA_URL' }] });
    database.attach(db);
    try {
      await pollUntil('the replica usable', () => db.replicaStats().replicas[0]?.usable, { timeoutMs: 10_000 });
      const read = { name: 'test_read', text: 'SELECT 1 AS one' };
      await db.readSql(read, []);
      await db.readSql(read, []);
      const text = await metrics.registry.metrics();
      const replicaLabel = `replica="postgres@127.0.0.1:${new URL(replica.url).port}/postgres"`;
      expect(text).toMatch(new RegExp(`^db_replica_lag_bytes\\{schema="profile",${replicaLabel},service="profile"\\} \\d+$`, 'm'));
      expect(text).toMatch(new RegExp(`^db_replica_lag_seconds\\{schema="profile",${replicaLabel},service="profile"\\} [\\d.e-]+$`, 'm'));
      expect(text).toMatch(new RegExp(`^db_replica_usable\\{schema="profile",${replicaLabel},service="profile"\\} 1$`, 'm'));
      expect(text).toMatch(/^db_possibly_stale_reads_total\{schema="profile",served_by="replica",service="profile"\} 2$/m);
      expect(text).toMatch(/^db_possibly_stale_reads_total\{schema="profile",served_by="primary",service="profile"\} 0$/m);
    } finally {
      await db.$disconnect();
    }
  });

  it("count, without replicas, every such read as the primary's", async () => {
    const metrics = new ServiceMetrics({ service: 'profile' });
    const database = databaseMetrics(metrics, 'profile', createLogger('profile', 'silent'));
    const db = createServiceClient('profile', { url: primary.url, poolSize: 1, replicas: [] });
    database.attach(db);
    try {
      await db.readSql({ name: 'test_read', text: 'SELECT 1 AS one' }, []);
      const text = await metrics.registry.metrics();
      expect(text).toMatch(/^db_possibly_stale_reads_total\{schema="profile",served_by="primary",service="profile"\} 1$/m);
      expect(text).not.toMatch(/^db_replica_/m);
    } finally {
      await db.$disconnect();
    }
  });
});
