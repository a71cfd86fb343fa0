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

  it('stops asking once its signal is aborted', async () => {
    const stop = new AbortController();
    let calls = 0;
    const polling = pollUntil('never', () => ((calls += 1), undefined), { timeoutMs: 60_000, intervalMs: 5, signal: stop.signal });
    await pollUntil('asked twice', () => calls >= 2, { timeoutMs: 5000, intervalMs: 1 });
    stop.abort(new Error('no longer needed'));
    await expect(polling).rejects.toThrow('no longer needed');
    const asked = calls;
    for (let turn = 0; turn < 10; turn += 1) await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toBe(asked);
  });
});
