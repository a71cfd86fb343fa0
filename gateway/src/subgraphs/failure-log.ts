// Why the gateway's calls to a subgraph fail, in its log: at most one warning per subgraph every few seconds, counting those left out.
import type { Logger } from '@fedstack/runtime';

/** How long after one warning about a subgraph the next waits, by default. */
export const FAILURE_LOG_INTERVAL_MS = 5000;

/** Told of a call to `subgraph` that got no answer, and why (`error`), for the request `requestId`. */
export type SubgraphFailureLog = (subgraph: string, error: Error, requestId: string | undefined) => void;

/**
 * Logs why a call to a subgraph got no answer (the connection refused or reset, a name that does not
 * resolve, no answer in time) at warn, with the error as it came (`err`: its code, such as ECONNREFUSED):
 * the client is told only that the subgraph could not be reached. A subgraph that is down fails every
 * request, so each subgraph gets at most one line every `intervalMs`; the next one says how many failures
 * went unlogged since the last (`suppressed`). `now` is the clock, in milliseconds.
 */
export function subgraphFailureLog(logger: Logger, intervalMs = FAILURE_LOG_INTERVAL_MS, now: () => number = () => performance.now()): SubgraphFailureLog {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (subgraph, error, requestId) => {
    const at = now();
    const previous = last.get(subgraph);
    if (previous && at - previous.at < intervalMs) {
      previous.suppressed += 1;
      return;
    }
    last.set(subgraph, { at, suppressed: 0 });
    logger.warn(
      { subgraph, err: error, ...(requestId === undefined ? {} : { requestId }), ...(previous?.suppressed ? { suppressed: previous.suppressed } : {}) },
      'a call to a subgraph got no answer',
    );
  };
}
