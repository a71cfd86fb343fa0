// A circuit breaker (opossum) around one subgraph's calls: once enough of the recent calls have failed
// (no answer in time, no connection, a 5xx), calls are refused at once for `resetMs` instead of each
// waiting out the timeout; then one trial call goes through, and its success closes the breaker again.
// A GraphQL error the subgraph answers (4xx, or 200 with errors) is an answer, not a failure.
import type { Fetcher, FetcherRequestInit, FetcherResponse } from '@apollo/utils.fetcher';
import CircuitBreaker from 'opossum';

export interface BreakerSettings {
  /** Calls within the 10-second window before the breaker may open at all. */
  minCalls: number;
  /** Share of those calls, in percent, that must fail for it to open. */
  errorPercent: number;
  /** How long it stays open before one trial call is let through, in milliseconds. */
  resetMs: number;
}

/** A 5xx answer: the subgraph is failing. Carries the answer, which the caller still gets. */
class FailedAnswer extends Error {
  constructor(readonly response: FetcherResponse) {
    super(`answered HTTP ${response.status}`);
  }
}

/** True for the error a breaker throws when it refuses a call because it is open. */
export function isOpenCircuit(error: unknown): boolean {
  return (error as { code?: unknown }).code === 'EOPENBREAKER';
}

export interface CircuitBrokenFetcher {
  fetch: Fetcher;
  /** Whether calls are being refused now. */
  isOpen(): boolean;
  /** Stops the breaker's statistics timers. */
  shutdown(): void;
}

/** Where a breaker is: calling (closed), refusing (open), or letting one trial call through (half open). */
export type CircuitState = 'closed' | 'open' | 'halfOpen';

export function circuitBroken(fetcher: Fetcher, settings: BreakerSettings, onStateChange: (state: CircuitState) => void): CircuitBrokenFetcher {
  const breaker = new CircuitBreaker(
    async (target: string, init?: FetcherRequestInit) => {
      const response = await fetcher(target, init);
      if (response.status >= 500) throw new FailedAnswer(response);
      return response;
    },
    {
      // The transport bounds every call already.
      timeout: false,
      volumeThreshold: settings.minCalls,
      errorThresholdPercentage: settings.errorPercent,
      resetTimeout: settings.resetMs,
      rollingCountTimeout: 10_000,
      rollingCountBuckets: 10,
    },
  );
  breaker.on('open', () => onStateChange('open'));
  breaker.on('halfOpen', () => onStateChange('halfOpen'));
  breaker.on('close', () => onStateChange('closed'));
  return {
    async fetch(target, init) {
      try {
        return await breaker.fire(target, init);
      } catch (error) {
        if (error instanceof FailedAnswer) return error.response;
        throw error;
      }
    },
    isOpen: () => breaker.opened,
    shutdown: () => breaker.shutdown(),
  };
}
