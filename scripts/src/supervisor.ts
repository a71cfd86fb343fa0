// What `npm start` does when a process it started dies: restart it after a growing wait, up to a limit.
import { EXIT_UNAVAILABLE, RESTART_POLICY, RestartBudget, type RestartPolicy } from '@fedstack/runtime';

/** Something started: how to know it is ready, that it exited (and how), and how to stop it. */
export interface Running {
  ready: Promise<void>;
  /** Resolves, saying how (`signal SIGKILL`, `exit code 1`), when it exits without being stopped. */
  exited: Promise<string>;
  stop(): Promise<void>;
  /** Whether it answers its liveness check now (`/healthz`), for one that has one, and how to end it when it hangs. */
  liveness?: { check(): Promise<boolean>; kill(): void };
}

/**
 * How often a ready process's liveness is checked, and after how many checks in a row unanswered it is
 * taken for hung: a process stuck on its one thread (a gateway planning for hours) does not exit, answers
 * nothing, and is deaf to SIGTERM, and `npm start` restarted only processes that exit.
 */
export const LIVENESS = { everyMs: 5000, failures: 6 };

/** A process `npm start` keeps running: its name in messages (`payments`, `the embedded PostgreSQL`), and how to start it. */
export interface Supervised {
  name: string;
  start(): Running;
  /**
   * What the stack does without it, for one it can do without (the embedded replica: reads go to the
   * primary): past the restart limit it is left stopped, saying so, instead of stopping everything.
   */
  without?: string;
}

interface Output {
  info(line: string): void;
  error(line: string): void;
}

/**
 * Keeps processes running once the stack is up (`supervise`): one that exits unbidden is started again
 * after its budget's wait, with a line saying why; past the limit, `giveUp` is called with the reason
 * (or, for one the stack can do without, it is left stopped).
 * Before that, while the stack starts, a death is the start-up's to report. `stop` cancels pending
 * restarts and stops the processes in the groups given, one group after another.
 */
export class Supervisor {
  private readonly current = new Map<Supervised, Running>();
  private readonly budgets = new Map<Supervised, RestartBudget>();
  /** Starts in a row of each process that could not reach what it needs (its database), for the wait before the next. */
  private readonly waiting = new Map<Supervised, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Each ready process's liveness checks unanswered in a row. */
  private readonly unanswered = new Map<Running, number>();
  private livenessTimer?: NodeJS.Timeout;
  private checking = false;
  private supervising = false;
  private stopping = false;

  constructor(
    private readonly output: Output,
    private readonly giveUp: (reason: string) => void,
    private readonly policy: RestartPolicy = RESTART_POLICY,
    private readonly now: () => number = Date.now,
    private readonly liveness = LIVENESS,
  ) {}

  /** Watches a process that has started (and is, or will be, ready). */
  watch(unit: Supervised, running: Running): void {
    this.current.set(unit, running);
    void running.exited.then((how) => {
      this.unanswered.delete(running);
      if (this.current.get(unit) === running) this.died(unit, how);
    });
    // Checked once ready: a process starting (migrating, say) answers nothing for a while.
    if (running.liveness)
      running.ready.then(
        () => void this.unanswered.set(running, 0),
        () => undefined,
      );
  }

  /** From now on, a process that dies is restarted, and one that hangs is killed and restarted. */
  supervise(): void {
    this.supervising = true;
    this.livenessTimer = setInterval(() => void this.checkLiveness(), this.liveness.everyMs);
  }

  /** Stops everything, group by group (the services, then the database), once; pending restarts are dropped. */
  async stop(groups: Supervised[][]): Promise<void> {
    this.stopping = true;
    clearInterval(this.livenessTimer);
    for (const timer of this.timers) clearTimeout(timer);
    for (const group of groups) await Promise.all(group.map(async (unit) => this.current.get(unit)?.stop()));
  }

  /** Asks each ready process whether it is alive; kills one that has not answered `failures` times in a row, as a death. */
  private async checkLiveness(): Promise<void> {
    // One round at a time: a round still waiting on a check is not counted twice by the next.
    if (this.checking) return;
    this.checking = true;
    await Promise.all(
      [...this.current].map(async ([unit, running]) => {
        const misses = this.unanswered.get(running);
        if (misses === undefined || !running.liveness) return;
        const alive = await running.liveness.check().catch(() => false);
        if (this.stopping || !this.unanswered.has(running)) return;
        if (alive) return void this.unanswered.set(running, 0);
        this.unanswered.set(running, misses + 1);
        if (misses + 1 < this.liveness.failures) return;
        this.unanswered.delete(running);
        const seconds = (this.liveness.everyMs * this.liveness.failures) / 1000;
        this.output.error(`${unit.name} has not answered its liveness check for ${seconds} s (hung); killing it (SIGKILL)`);
        running.liveness.kill();
      }),
    ).finally(() => (this.checking = false));
  }

  private died(unit: Supervised, how: string): void {
    if (this.stopping || !this.supervising) return;
    if (how === `exit code ${EXIT_UNAVAILABLE}`) {
      // Its database is down: no crash of its own, and it would only use up its restarts while the others,
      // riding the outage out, were stopped with it. Started again as long as it takes.
      const tries = (this.waiting.get(unit) ?? 0) + 1;
      this.waiting.set(unit, tries);
      const delayMs = Math.min(this.policy.maxDelayMs, this.policy.firstDelayMs * 2 ** (tries - 1));
      this.output.error(`${unit.name} could not reach its database (${how}); starting it again in ${delayMs / 1000} s, for as long as that takes`);
      this.restartAfter(unit, delayMs);
      return;
    }
    let budget = this.budgets.get(unit);
    if (!budget) this.budgets.set(unit, (budget = new RestartBudget(this.policy, this.now)));
    const next = budget.next();
    if (!next) {
      const reason = `${unit.name} stopped unexpectedly ${this.policy.limit + 1} times within ${Math.round(this.policy.windowMs / 60_000)} minutes (last: ${how})`;
      if (unit.without) this.output.error(`${reason}; leaving it stopped: ${unit.without}`);
      else this.giveUp(reason);
      return;
    }
    this.output.error(
      `${unit.name} stopped unexpectedly (${how}); restarting it in ${next.delayMs / 1000} s (restart ${next.restart} of ${this.policy.limit} allowed within ${Math.round(this.policy.windowMs / 60_000)} minutes)`,
    );
    this.restartAfter(unit, next.delayMs);
  }

  private restartAfter(unit: Supervised, delayMs: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.stopping) return;
      const running = unit.start();
      this.watch(unit, running);
      running.ready.then(
        () => {
          this.waiting.delete(unit);
          this.output.info(`${unit.name} restarted and ready.`);
        },
        // It exits too when it cannot get ready, which counts as another death; one that hangs is stopped.
        () => void running.stop(),
      );
    }, delayMs);
    this.timers.add(timer);
  }
}

/**
 * Calls `onOrphaned` once the process that started this one is gone (this one handed to init or a
 * subreaper). `npm start` runs the launcher from a shell that forks it rather than giving it its place,
 * and a SIGTERM to npm (a `kill`, a process manager, a CI step's time limit) ended npm and that shell
 * only: the launcher, its database and every service went on running, owned by nobody.
 */
export function whenOrphaned(onOrphaned: () => void, everyMs = 1000): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onOrphaned();
  }, everyMs);
  timer.unref();
}
