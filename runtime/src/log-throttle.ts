// At most one log line per kind of failure every few seconds: for failures that come with every request while something is down.

/** How long after one line of a kind the next waits, by default. */
export const LOG_THROTTLE_MS = 5000;

/**
 * Returns `write(key, line)`, which calls `line(suppressed)` unless a line of `key` was written within
 * `intervalMs`; `suppressed` is how many were left out since the last one (0 for the first). Something
 * that is down fails every request, and a line for each would bury everything else in the log (and cost
 * a stack trace each). `now` is the clock, in milliseconds. Keys are kinds, few and fixed (a subgraph's
 * name, an error code), never a client's input.
 */
export function logThrottle(intervalMs = LOG_THROTTLE_MS, now: () => number = () => performance.now()) {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (key: string, line: (suppressed: number) => void): void => {
    const at = now();
    const previous = last.get(key);
    if (previous && at - previous.at < intervalMs) {
      previous.suppressed += 1;
      return;
    }
    last.set(key, { at, suppressed: 0 });
    line(previous?.suppressed ?? 0);
  };
}
