// Why the gateway's calls to a subgraph fail, in its log: at most one warning per subgraph every few seconds, counting those left out.
import { LOG_THROTTLE_MS, logThrottle, type Logger } from '@fedstack/runtime';

/** Told of a call to `subgraph` that got no answer, and why (`error`), for the request `requestId`. */
export type SubgraphFailureLog = (subgraph: string, error: Error, requestId: string | undefined) => void;

/**
 * Logs why a call to a subgraph got no answer (the connection refused or reset, a name that does not
 * resolve, no answer in time) at warn, with the error as it came (`err`: its code, such as ECONNREFUSED):
 * the client is told only that the subgraph could not be reached. A subgraph that is down fails every
 * request, so each subgraph gets at most one line every `intervalMs`; the next one says how many failures
 * went unlogged since the last (`suppressed`). `now` is the clock, in milliseconds.
 */
export function subgraphFailureLog(logger: Logger, intervalMs = LOG_THROTTLE_MS, now?: () => number): SubgraphFailureLog {
  const throttled = logThrottle(intervalMs, now);
  return (subgraph, error, requestId) =>
    throttled(subgraph, (suppressed) =>
      logger.warn(
        { subgraph, err: error, ...(requestId === undefined ? {} : { requestId }), ...(suppressed ? { suppressed } : {}) },
        'a call to a subgraph got no answer',
      ),
    );
}
