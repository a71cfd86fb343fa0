import { createLogger, freePort } from '@fedstack/runtime';
import { createServiceClient } from '@fedstack/shared-db';
import { positionAfterWrites } from './read-your-writes';
import { LogCapture } from './testing';

describe('the position given after a write', () => {
  it('is none, said in a warning, when the primary cannot be asked: the write has committed and is not made to fail', async () => {
    // Nothing listens there: the write's own statements succeeded, and then the database went away.
    const url = `postgresql://postgres@127.0.0.1:${await freePort()}/postgres`;
    const db = createServiceClient('profile', { url, replicas: [{ url, source: 'PROFILE_DATABASE_REPLICA_URL' }] });
    const logs = new LogCapture();
    try {
      expect(db.hasReplicas).toBe(true);
      await expect(positionAfterWrites(db, createLogger('profile', 'warn', logs))()).resolves.toBeUndefined();
      expect(logs.lines).toContainEqual(expect.objectContaining({ level: 'warn', msg: 'could not read the WAL position after a write' }));
    } finally {
      await db.$disconnect();
    }
  });

  it('is none without replicas, and nothing is asked', async () => {
    const db = createServiceClient('profile', { url: `postgresql://postgres@127.0.0.1:${await freePort()}/postgres`, replicas: [] });
    const logs = new LogCapture();
    try {
      await expect(positionAfterWrites(db, createLogger('profile', 'warn', logs))()).resolves.toBeUndefined();
      expect(logs.lines).toEqual([]);
    } finally {
      await db.$disconnect();
    }
  });
});
