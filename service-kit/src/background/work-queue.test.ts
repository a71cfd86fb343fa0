import { Registry } from 'prom-client';
import { createLogger } from '@fedstack/runtime';
import { LogCapture } from '../testing';
import { WorkQueue, backoffMs, type Job, type JobStore } from './work-queue';

interface TestJob extends Job {
  id: string;
}

/** Jobs in memory, with what happened to each: the queue's contract with a table, without the table. */
function memoryStore(ids: string[]) {
  const due = new Map(ids.map((id) => [id, 0]));
  const events: string[] = [];
  let failClaims = 0;
  const store: JobStore<TestJob> & { events: string[]; parked: Set<string>; failNextClaims(n: number): void } = {
    events,
    parked: new Set(),
    failNextClaims(n) {
      failClaims = n;
    },
    async claim(room) {
      if (failClaims > 0) {
        failClaims -= 1;
        throw Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
      }
      const claimed = [...due].slice(0, room);
      for (const [id] of claimed) due.delete(id);
      return claimed.map(([id, attempts]) => ({ id, attempts: attempts + 1 }));
    },
    async complete(job) {
      events.push(`done ${job.id}`);
    },
    async retry(job, delayMs, reason) {
      events.push(`retry ${job.id} after ${delayMs} (${reason})`);
      due.set(job.id, job.attempts);
    },
    async park(job, reason) {
      events.push(`park ${job.id} (${reason})`);
      store.parked.add(job.id);
    },
    async count() {
      return { pending: due.size, parked: store.parked.size };
    },
  };
  return store;
}

function queueOver(store: JobStore<TestJob>, handle: (job: TestJob) => Promise<string>, options: { concurrency?: number; maxAttempts?: number } = {}) {
  const logs = new LogCapture();
  const registry = new Registry();
  const queue = new WorkQueue<TestJob, string>({
    name: 'test-work',
    store,
    handle,
    retryable: (error) => !(error instanceof Error && error.message.startsWith('refused')),
    describe: (job) => ({ jobId: job.id }),
    pollMs: 3_600_000,
    baseBackoffMs: 100,
    maxBackoffMs: 1000,
    maxAttempts: options.maxAttempts ?? 3,
    concurrency: options.concurrency ?? 2,
    logger: createLogger('test', 'info', logs),
    registry,
  });
  return { queue, logs, registry };
}

/** Kicks the queue until `store` has nothing due and it is idle (retries are due at once in memory). */
async function drain(queue: WorkQueue<TestJob, string>, store: { count(): Promise<{ pending: number }> }) {
  for (let pass = 0; pass < 20 && (await store.count()).pending > 0; pass += 1) {
    queue.kick();
    await queue.settle();
  }
}

describe('the background work queue', () => {
  it('waits longer after each failure, doubling up to its cap', () => {
    expect([1, 2, 3, 4, 5, 10, 60].map((failures) => backoffMs(failures, 1000, 100))).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
    expect(backoffMs(1, 10_000)).toBe(250);
  });

  it('does each due job once, at most `concurrency` at a time', async () => {
    const store = memoryStore(['a', 'b', 'c', 'd', 'e']);
    let inHand = 0;
    let most = 0;
    const { queue } = queueOver(store, async (job) => {
      inHand += 1;
      most = Math.max(most, inHand);
      await new Promise((resolve) => setImmediate(resolve));
      inHand -= 1;
      return job.id;
    });
    queue.kick();
    await queue.settle();
    expect(store.events.sort()).toEqual(['done a', 'done b', 'done c', 'done d', 'done e']);
    expect(most).toBe(2);
  });

  it('tries a failing job again with a growing wait, then parks it after the last attempt, says so and counts it', async () => {
    const store = memoryStore(['flaky', 'broken']);
    let flakyTries = 0;
    const { queue, logs, registry } = queueOver(store, async (job) => {
      if (job.id === 'flaky' && (flakyTries += 1) < 3) throw new Error('processor unreachable');
      if (job.id === 'broken') throw new Error('processor unreachable');
      return job.id;
    });
    await drain(queue, store);
    expect(store.events.filter((event) => event.includes('flaky'))).toEqual([
      'retry flaky after 100 (processor unreachable)',
      'retry flaky after 200 (processor unreachable)',
      'done flaky',
    ]);
    expect(store.events.filter((event) => event.includes('broken'))).toEqual([
      'retry broken after 100 (processor unreachable)',
      'retry broken after 200 (processor unreachable)',
      'park broken (processor unreachable)',
    ]);
    expect(logs.lines.filter((line) => line.level === 'error')).toEqual([
      expect.objectContaining({ msg: 'background job failed too often; parked for an operator', jobId: 'broken', attempts: 3, maxAttempts: 3 }),
    ]);
    const metrics = await registry.metrics();
    expect(metrics).toContain('background_jobs_total{worker="test-work",outcome="parked"} 1');
    expect(metrics).toContain('background_jobs_total{worker="test-work",outcome="retry"} 4');
    expect(metrics).toContain('background_jobs_total{worker="test-work",outcome="done"} 1');
    expect(metrics).toContain('background_jobs{worker="test-work",state="parked"} 1');
    expect(metrics).toContain('background_jobs{worker="test-work",state="pending"} 0');
  });

  it('parks a job refused outright at once, without retrying', async () => {
    const store = memoryStore(['refusal']);
    const { queue, logs } = queueOver(store, async () => {
      throw new Error('refused: bad input');
    });
    await drain(queue, store);
    expect(store.events).toEqual(['park refusal (refused: bad input)']);
    expect(logs.lines.find((line) => line.level === 'error')?.msg).toBe('background job refused; parked for an operator');
  });

  it('answers a caller that runs a job itself, after settling it, with its result or its error', async () => {
    const store = memoryStore([]);
    const { queue } = queueOver(store, async (job) => {
      if (job.id === 'bad') throw new Error('peer down');
      return `finished ${job.id}`;
    });
    await expect(queue.run({ id: 'good', attempts: 1 })).resolves.toBe('finished good');
    await expect(queue.run({ id: 'bad', attempts: 1 })).rejects.toThrow('peer down');
    expect(store.events).toEqual(['done good', 'retry bad after 100 (peer down)']);
  });

  it('says once that its jobs cannot be claimed while the database is away, and once that it has resumed', async () => {
    const store = memoryStore(['later']);
    store.failNextClaims(3);
    const { queue, logs } = queueOver(store, async (job) => job.id);
    for (let pass = 0; pass < 4; pass += 1) {
      queue.kick();
      await queue.settle();
    }
    expect(store.events).toEqual(['done later']);
    expect(logs.lines.map((line) => line.msg)).toEqual([
      'background work paused: its jobs cannot be claimed; trying again at every poll',
      'background work resumed',
    ]);
    expect(logs.lines[0]).toMatchObject({ worker: 'test-work', reason: 'terminating connection due to administrator command (57P01)' });
  });

  it('finishes the jobs in hand when stopped, and takes no more', async () => {
    const store = memoryStore(['one', 'two', 'three']);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { queue } = queueOver(
      store,
      async (job) => {
        await gate;
        return job.id;
      },
      { concurrency: 1 },
    );
    queue.kick();
    await new Promise((resolve) => setImmediate(resolve));
    const stopped = queue.stop();
    release();
    await stopped;
    expect(store.events).toEqual(['done one']);
    queue.kick();
    await queue.settle();
    expect(store.events).toEqual(['done one']);
  });
});
