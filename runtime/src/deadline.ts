// When the caller stops waiting: the gateway tells a subgraph, and the subgraph runs nothing that reaches it later.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { NextFunction, Request, Response } from 'express';
import { ErrorCode } from './errors';
import type { Logger } from './logger';

/** The time (epoch milliseconds) after which the caller no longer waits for the answer. */
export const DEADLINE_HEADER = 'x-request-deadline';
/** Two hosts' clocks differ: a request is late only this long past its deadline. */
const CLOCK_ALLOWANCE_MS = 1000;

/** The header's value for a caller that waits `timeoutMs` from now. */
export function deadlineIn(timeoutMs: number): string {
  return String(Date.now() + timeoutMs);
}

/**
 * Refuses (504, not run) a request that arrives more than a second after its deadline: its caller has
 * already told its own client that it failed. A subgraph that hung (a frozen host) read the requests the
 * gateway had given up on from its socket once it was back, and ran them: a profile change, payments,
 * a suspension, each reported `SUBGRAPH_UNAVAILABLE` and then made seconds later. A request without the
 * header, or with one that is not a time, is run.
 */
export function refuseLate(logger: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const deadline = Number(req.headers[DEADLINE_HEADER]);
    const late = Date.now() - deadline;
    if (!Number.isFinite(deadline) || late <= CLOCK_ALLOWANCE_MS) return next();
    logger.warn({ requestId: res.locals.requestId, lateMs: late }, 'request arrived after its caller stopped waiting; not run');
    res.status(504).json({
      errors: [
        { message: `The request arrived ${late} ms after its caller stopped waiting for it: not run`, extensions: { code: ErrorCode.SUBGRAPH_UNAVAILABLE } },
      ],
    });
  };
}

/** The deadline of the call whose work is under way, where one was given (forCallerUntil). */
const callerDeadline = new AsyncLocalStorage<number>();

/** Thrown before a commit when the caller of the work under way has stopped waiting for it (assertCallerWaiting). */
export class CallerGoneError extends Error {
  override name = 'CallerGoneError';
}

/**
 * Runs `work` for a caller that stops waiting at `deadline` (epoch milliseconds): a transaction it begins
 * commits only until a second past then (assertCallerWaiting, which the database client calls before
 * each commit). A call that arrived in time but waited on a lock or a slow database committed after its
 * caller had told its own client that it failed (a suspension answered SUBGRAPH_UNAVAILABLE, then made).
 */
export function forCallerUntil<T>(deadline: number, work: () => T): T {
  return callerDeadline.run(deadline, work);
}

/** Throws CallerGoneError once the caller of the work under way (forCallerUntil) has stopped waiting; else nothing. */
export function assertCallerWaiting(): void {
  const deadline = callerDeadline.getStore();
  const late = deadline === undefined ? 0 : Date.now() - deadline;
  if (late > CLOCK_ALLOWANCE_MS) throw new CallerGoneError(`its caller stopped waiting ${late} ms ago: rolled back`);
}
