// A circuit breaker (opossum) around one subgraph's calls: once enough of the recent calls have failed
// (no answer in time, no connection, a 5xx), calls are refused at once for `resetMs` instead of each
// waiting out the timeout; then one trial call goes through, and its success closes the breaker again.
// A GraphQL error the subgraph answers (4xx, or 200 with errors) is an answer, not a failure.
import { EventEmitter } from 'node:events';
import type { Fetcher, FetcherRequestInit, FetcherResponse } from '@apollo/utils.fetcher';
import CircuitBreaker from 'opossum';
import { isFailedAnswer } from './transport';

/** The window of recent calls the breaker judges by, in one-second buckets. */
const WINDOW_MS = 10_000;
const BUCKETS = 10;

export interface BreakerSettings {
  /** Calls within the 10-second window before the breaker may open at all. */
  minCalls: number;
  /** Share of those calls, in percent, that must fail for it to open (this share or more). */
  errorPercent: number;
  /** How long it stays open before one trial call is let through, in milliseconds. */
  resetMs: number;
}

/** A failed answer (a 5xx, a body that is no JSON object): the subgraph is failing. Carries the answer, which the caller still gets. */
class FailedAnswer extends Error {
  constructor(readonly response: FetcherResponse) {
    super(`answered HTTP ${response.status}${response.status < 500 ? ' with no JSON object' : ''}`);
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

/**
 * Wraps one subgraph's fetcher in its breaker. The window is cleared when the breaker closes: the failures
 * that opened it no longer count once a trial call has succeeded (left in, a recovered subgraph with little
 * traffic was cut off again by its first failure).
 */
export function circuitBroken(fetcher: Fetcher, settings: BreakerSettings, onStateChange: (state: CircuitState) => void): CircuitBrokenFetcher {
  const rotation = new EventEmitter();
  const rotating = setInterval(() => rotation.emit('rotate'), WINDOW_MS / BUCKETS).unref();
  const breaker = new CircuitBreaker(
    async (target: string, init?: FetcherRequestInit) => {
      const response = await fetcher(target, init);
      if (isFailedAnswer(response)) throw new FailedAnswer(response);
      return response;
    },
    {
      // The transport bounds every call already.
      timeout: false,
      volumeThreshold: settings.minCalls,
      // opossum opens above its threshold; the setting is the share at which it opens (100: when all fail).
      errorThresholdPercentage: settings.errorPercent - 1e-9,
      resetTimeout: settings.resetMs,
      rollingCountTimeout: WINDOW_MS,
      rollingCountBuckets: BUCKETS,
      rotateBucketController: rotation,
      // Latency percentiles, which nothing reads, cost a sort of every latency in the window on each failure
      // (2.5 ms of blocked event loop at 2,000 calls a second), and snapshots a timer that computes them.
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
    },
  );
  breaker.on('open', () => onStateChange('open'));
  breaker.on('halfOpen', () => onStateChange('halfOpen'));
  breaker.on('close', () => {
    for (let bucket = 0; bucket < BUCKETS; bucket += 1) rotation.emit('rotate');
    onStateChange('closed');
  });
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
    shutdown: () => {
      clearInterval(rotating);
      breaker.shutdown();
    },
  };
}
