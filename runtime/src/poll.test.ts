import { pollUntil } from './poll';

describe('pollUntil', () => {
  it('resolves with the first answer that is not undefined or false', async () => {
    let calls = 0;
    await expect(pollUntil('ready', () => ((calls += 1) === 3 ? { calls } : undefined), { timeoutMs: 5000, intervalMs: 1 })).resolves.toEqual({ calls: 3 });
    await expect(pollUntil('true', () => true, { timeoutMs: 0 })).resolves.toBe(true);
  });

  it('treats a throwing check as not yet, and rejects at the deadline with the last error as the cause', async () => {
    const failure = pollUntil(
      'reachable',
      () => {
        throw new Error('connection refused');
      },
      { timeoutMs: 20, intervalMs: 1 },
    );
    await expect(failure).rejects.toThrow('not reachable within 20 ms');
    await expect(failure.catch((error: Error) => (error.cause as Error).message)).resolves.toBe('connection refused');
  });
});
