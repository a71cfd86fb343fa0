// Waiting with a bound: for something that announces nothing, asked again at an interval up to a deadline; for a promise, up to a time.
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

/** Resolves as `work` does within `ms`, or fails with `reason`. */
export async function within<T>(work: Promise<T>, ms: number, reason: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(reason)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
