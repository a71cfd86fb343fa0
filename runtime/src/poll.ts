// The one way to wait for something that announces nothing: ask again at an interval, up to a deadline.
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Calls `check` until it answers something other than `undefined` or `false`, and resolves with that
 * answer; `check` throwing counts as "not yet" until the deadline, when the last error is the cause.
 * Rejects after `timeoutMs` with "<what> within <n> ms". Where an event can be awaited instead (a
 * notification, a log line, a child's exit), await it: this is for state read from outside.
 */
export async function pollUntil<T>(
  what: string,
  check: () => Promise<T | false | undefined> | T | false | undefined,
  options: { timeoutMs: number; intervalMs?: number; /** Stops asking (rejecting with its reason) once aborted. */ signal?: AbortSignal },
): Promise<Exclude<T, false | undefined>> {
  const { timeoutMs, intervalMs = 50 } = options;
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      const answer = await check();
      if (answer !== undefined && answer !== false) return answer as Exclude<T, false | undefined>;
    } catch (error) {
      lastError = error;
    }
    if (performance.now() >= deadline) throw new Error(`not ${what} within ${timeoutMs} ms`, { cause: lastError });
    await sleep(Math.min(intervalMs, Math.max(1, deadline - performance.now())), undefined, { signal: options.signal }).catch((error: unknown) => {
      throw options.signal?.aborted ? options.signal.reason : error;
    });
  }
}
