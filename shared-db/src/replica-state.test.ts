import type pg from 'pg';
import { StartupError } from '@fedstack/runtime';
import { verifyReplicas } from './replica-state';

/** A pool whose every query answers `rows`, or fails with `error`. */
const pool = (answer: { rows: unknown[] } | Error) =>
  ({ query: () => (answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer)) }) as unknown as pg.Pool;
const PRIMARY = pool({ rows: [{ lsn: '0/1', clock_ms: 0, system: '7', database: 'fedstack' }] });
const connection = { url: 'postgresql://svc:pw@replica-1:5432/fedstack', source: 'PROFILE_DATABASE_REPLICA_URL' };

describe('checking replicas at start', () => {
  it('skips a replica that holds its connection and does not answer, as one that cannot be reached', async () => {
    await expect(verifyReplicas(PRIMARY, [{ connection, monitor: pool(new Error('Query read timeout')) }])).resolves.toBeUndefined();
  });

  it('says in one line that the primary did not answer, rather than fail with a stack trace', async () => {
    const refused = verifyReplicas(pool(new Error('Query read timeout')), [{ connection, monitor: PRIMARY }]);
    await expect(refused).rejects.toThrow(StartupError);
    await expect(refused).rejects.toThrow("the service's database did not answer within 1000 ms while its replicas were checked");
  });
});
