import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { STACK, freePort, portVariable } from '@fedstack/runtime';
import { queryAt } from '@fedstack/shared-db/testing';
import { launch } from './launch';

// `DB_REPLICAS=1 npm start`: the embedded PostgreSQL with a streaming replica beside it, given to the
// services; and a start without it afterwards, which lets the primary drop the replica's slot.

describe('npm start with DB_REPLICAS=1', () => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'fedstack-launcher-replica-'));
    // The replica listens on the primary's port + 1.
    env = { EMBEDDED_PG_DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(await freePort(2)), LOG_LEVEL: 'warn' };
    for (const { name } of STACK) env[portVariable(name)] = String(await freePort());
  });
  afterAll(() => {
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(`${dataDir}-replica`, { recursive: true, force: true });
  });

  it('starts a streaming replica on the next port, which every service reaches, and stops it before the primary', async () => {
    const run = launch({ ...env, DB_REPLICAS: '1' }, { detached: true });
    try {
      await run.until('Everything is ready.', 240_000);
      const replicaUrl = /its streaming replica \(read-only, owner\): (\S+)/.exec(run.output())?.[1] as string;
      expect(new URL(replicaUrl).port).toBe(String(Number(env.EMBEDDED_PG_PORT) + 1));
      const [replica] = await queryAt<{ standby: boolean; users: number }>(
        replicaUrl,
        'SELECT pg_is_in_recovery() AS standby, (SELECT count(*)::int FROM auth.users) AS users',
      );
      expect(replica).toEqual({ standby: true, users: expect.any(Number) });
      expect(replica?.users).toBeGreaterThan(0);
      // Each service keeps a connection there, as its role, for the replica's checks.
      const roles = await queryAt<{ role: string }>(
        replicaUrl,
        "SELECT DISTINCT usename AS role FROM pg_stat_activity WHERE usename LIKE '%\\_svc' ORDER BY 1",
      );
      expect(roles.map(({ role }) => role)).toEqual(['admin_svc', 'auth_svc', 'payments_svc', 'profile_svc']);
    } finally {
      run.interrupt();
    }
    expect(await run.exited).toBe(0);
    expect(run.output()).toContain("Stopped: gateway, auth, profile, payments, admin, the embedded PostgreSQL's replica and the embedded PostgreSQL.");
  }, 300_000);

  it('drops the replica slot when started without it, and makes the replica anew when asked for it again', async () => {
    const plain = launch(env, { detached: true });
    try {
      await plain.until('Everything is ready.', 240_000);
      const owner = /database \(embedded PostgreSQL, owner\): (\S+)/.exec(plain.output())?.[1] as string;
      // Kept, the slot would have the primary keep its WAL for a replica that no longer runs.
      expect(await queryAt(owner, 'SELECT slot_name FROM pg_replication_slots')).toEqual([]);
      expect(plain.output()).not.toContain('streaming replica');
    } finally {
      plain.interrupt();
    }
    expect(await plain.exited).toBe(0);
    expect(existsSync(path.join(`${dataDir}-replica`, 'PG_VERSION'))).toBe(true);
    const again = launch({ ...env, DB_REPLICAS: '1' }, { detached: true });
    try {
      await again.until('Everything is ready.', 240_000);
      const replicaUrl = /its streaming replica \(read-only, owner\): (\S+)/.exec(again.output())?.[1] as string;
      expect(await queryAt(replicaUrl, 'SELECT pg_is_in_recovery() AS standby')).toEqual([{ standby: true }]);
    } finally {
      again.interrupt();
    }
    expect(await again.exited).toBe(0);
  }, 300_000);
});
