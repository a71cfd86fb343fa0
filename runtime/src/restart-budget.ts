// How a process that keeps a child running (`npm start`, a gateway of several workers) restarts it after it dies: a growing wait, up to a limit.

/** How a process that died is restarted (`npm start`'s processes, a gateway's workers): waits of 1, 2, 4, 8, 16 s; the sixth death within ten minutes stops everything. */
export const RESTART_POLICY = { firstDelayMs: 1000, maxDelayMs: 30_000, limit: 5, windowMs: 10 * 60_000 };
export type RestartPolicy = typeof RESTART_POLICY;

/**
 * One process's deaths within the policy's window: each asks for a restart after twice the previous
 * wait, until more than `limit` deaths fall within the window. A process that died long ago and has
 * run since starts again from the first wait.
 */
export class RestartBudget {
  private readonly deaths: number[] = [];

  constructor(
    private readonly policy: RestartPolicy = RESTART_POLICY,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records a death: the wait before the restart and its number, or undefined when the limit is spent. */
  next(): { delayMs: number; restart: number } | undefined {
    const at = this.now();
    this.deaths.push(at);
    while ((this.deaths[0] ?? at) <= at - this.policy.windowMs) this.deaths.shift();
    const restart = this.deaths.length;
    if (restart > this.policy.limit) return undefined;
    return { delayMs: Math.min(this.policy.maxDelayMs, this.policy.firstDelayMs * 2 ** (restart - 1)), restart };
  }
}
