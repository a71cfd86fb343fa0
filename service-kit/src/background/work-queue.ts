// The one way background work runs: due jobs claimed from a table, each tried with backoff, parked after a cap.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Logger } from '@fedstack/runtime';
import { brief } from './brief';

/**
 * Three kinds of background work share this: the outbox relay (ADR 0007), payments' recovery of charges a
 * crash interrupted, and admin's erasure saga. Each keeps its jobs in its own table, in the service's own
 * schema, so that a job commits with the change that makes it and moves with the service (`db:split`);
 * each says how its jobs are claimed and settled (`JobStore`). This runs them: it looks for due jobs
 * every `pollMs` and whenever kicked (a NOTIFY), claims as many as it has room for, handles each without
 * waiting for the others, and settles each: done, tried again after a backoff that doubles up to a cap,
 * or parked (kept, visible, counted and logged as an error) once it has failed `maxAttempts` times or
 * failed in a way that will not pass. A job's claim is a lease in its table, so a process that dies
 * mid-job holds nothing for longer than the lease, and two processes never take one job at once.
 */

/** One job: its own identity, and how many times it has been claimed, this time included. */
export interface Job {
  attempts: number;
}

/** How one kind of job is kept: claimed, settled and counted in its own table. */
export interface JobStore<J extends Job> {
  /** Claims at most `room` due jobs (leased, so no other process takes them meanwhile), given the jobs still in hand. */
  claim(room: number, inHand: readonly J[]): Promise<J[]>;
  /** The job is done: remove it or mark it so (a no-op where the handler's own transaction did). */
  complete(job: J): Promise<void>;
  /** The job is due again after `delayMs`, with the reason it failed. */
  retry(job: J, delayMs: number, reason: string): Promise<void>;
  /** The job is given up on: kept, with the reason, for an operator; never claimed again by itself. */
  park(job: J, reason: string): Promise<void>;
  /** Jobs waiting (due now or later) and parked, counted when metrics are scraped. */
  count(): Promise<{ pending: number; parked: number }>;
}

export interface WorkQueueOptions<J extends Job, R = void> {
  /** The kind of work, in metrics (`worker` label) and logs: `outbox`, `payment-recovery`, `erasure`. */
  name: string;
  store: JobStore<J>;
  /** Does one job, and says how it went to a caller that ran it itself (`run`); throws when it did not. */
  handle(job: J): Promise<R>;
  /** False for a failure that asking again will not change (a refusal): the job is parked at once. */
  retryable?(error: unknown): boolean;
  /** Describes a job in logs. */
  describe(job: J): Record<string, unknown>;
  /** How often due jobs are looked for without a kick. */
  pollMs: number;
  /** The first wait before a retry; it doubles with every failure, up to `maxBackoffMs`. */
  baseBackoffMs: number;
  maxBackoffMs: number;
  /** Attempts after which a job that keeps failing is parked. */
  maxAttempts: number;
  /** Jobs in hand at once in this process. */
  concurrency: number;
  logger: Logger;
  registry: Registry;
}

/** The wait before attempt n + 1 of something that failed n times: doubling from `baseMs`, capped at `maxMs`. */
export function backoffMs(failures: number, maxMs: number, baseMs = 250): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(failures - 1, 0), 30));
}

interface QueueMetrics {
  jobs: Counter<'worker' | 'outcome'>;
  duration: Histogram<'worker'>;
  /** Each queue's count of its jobs, run when the gauge is scraped. */
  counters: Set<() => Promise<void>>;
}

const metricsByRegistry = new WeakMap<Registry, QueueMetrics>();

/** The metrics every queue in a process shares, labelled by worker: made once per registry. */
function queueMetrics(registry: Registry): QueueMetrics {
  let metrics = metricsByRegistry.get(registry);
  if (metrics) return metrics;
  const counters = new Set<() => Promise<void>>();
  metrics = {
    jobs: new Counter({
      name: 'background_jobs_total',
      help: 'Background jobs tried, by worker (outbox, payment-recovery, erasure) and outcome (done, retry, parked)',
      labelNames: ['worker', 'outcome'] as const,
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'background_job_duration_seconds',
      help: 'Time one background job took, by worker',
      labelNames: ['worker'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    counters,
  };
  new Gauge({
    name: 'background_jobs',
    help: "Background jobs not done, by worker and state: pending (due now or later) or parked (given up on; see the log and the job's last error)",
    labelNames: ['worker', 'state'] as const,
    registers: [registry],
    // Counted from the tables when scraped, not kept up to date: no cost between scrapes.
    async collect() {
      await Promise.all([...counters].map((count) => count()));
    },
  });
  metricsByRegistry.set(registry, metrics);
  return metrics;
}

/** Runs one kind of background work in this process. `start` it once; `stop` it on shutdown. */
export class WorkQueue<J extends Job, R = void> {
  private readonly metrics: QueueMetrics;
  private readonly inHand = new Set<J>();
  private readonly running = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  /** Set while claiming fails (the database is away): said once when it starts and once when it ends. */
  private failing = false;

  constructor(private readonly options: WorkQueueOptions<J, R>) {
    this.metrics = queueMetrics(options.registry);
    const { name, store, logger } = options;
    const gauge = options.registry.getSingleMetric('background_jobs') as Gauge<'worker' | 'state'>;
    // A scrape while the database is away keeps the last figures.
    this.metrics.counters.add(async () => {
      try {
        const { pending, parked } = await store.count();
        gauge.set({ worker: name, state: 'pending' }, pending);
        gauge.set({ worker: name, state: 'parked' }, parked);
      } catch (error) {
        logger.debug({ worker: name, reason: brief(error) }, 'background jobs not counted');
      }
    });
  }

  /** Starts looking for due jobs: now, every `pollMs`, and whenever kicked. */
  start(): void {
    this.timer = setInterval(() => this.kick(), this.options.pollMs);
    this.timer.unref();
    this.kick();
  }

  /** Looks for due jobs now (and again when the current pass ends, if one is running). */
  kick(): void {
    if (this.stopped) return;
    if (this.pass) {
      this.again = true;
      return;
    }
    this.pass = this.claimAndRun()
      .then(
        () => this.recovered(),
        (error: unknown) => this.claimFailed(error),
      )
      .finally(() => {
        this.pass = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /**
   * Runs one job now, as the loop would, and settles it; rejects with the job's error after settling it,
   * for a caller that runs a job itself and answers a client (the erasure a request started).
   */
  async run(job: J): Promise<R> {
    const { name, store, logger } = this.options;
    const stopTimer = this.metrics.duration.startTimer({ worker: name });
    let result: R;
    try {
      result = await this.options.handle(job);
    } catch (error) {
      stopTimer();
      await this.settleFailure(job, error).catch((settling: unknown) =>
        // Its lease runs out and it is claimed again: nothing is lost.
        logger.warn(
          { worker: name, ...this.options.describe(job), reason: brief(settling) },
          'a failed background job could not be rescheduled; it is retried once its lease ends',
        ),
      );
      throw error;
    }
    stopTimer();
    this.metrics.jobs.inc({ worker: name, outcome: 'done' });
    await store.complete(job);
    return result;
  }

  /** Waits until no pass and no job is under way (the end of a graceful stop, and tests). */
  async settle(): Promise<void> {
    while (this.pass || this.running.size > 0) await Promise.all([this.pass, ...this.running]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.settle();
  }

  /** Claims due jobs while there is room, and starts each without waiting for the others. */
  private async claimAndRun(): Promise<void> {
    for (;;) {
      const room = this.options.concurrency - this.inHand.size;
      if (room <= 0 || this.stopped) return;
      const jobs = await this.options.store.claim(room, [...this.inHand]);
      if (jobs.length === 0) return;
      for (const job of jobs) {
        this.inHand.add(job);
        const running: Promise<void> = this.run(job)
          .then(
            () => undefined,
            () => undefined,
          )
          .finally(() => {
            this.inHand.delete(job);
            this.running.delete(running);
            this.kick();
          });
        this.running.add(running);
      }
    }
  }

  private async settleFailure(job: J, error: unknown): Promise<void> {
    const { name, store, logger } = this.options;
    const retryable = (failure: unknown) => this.options.retryable?.(failure) ?? true;
    const reason = brief(error).slice(0, 1000);
    const details = { worker: name, ...this.options.describe(job), attempts: job.attempts, reason };
    if (!retryable(error) || job.attempts >= this.options.maxAttempts) {
      await store.park(job, reason);
      this.metrics.jobs.inc({ worker: name, outcome: 'parked' });
      logger.error(
        { ...details, maxAttempts: this.options.maxAttempts },
        retryable(error) ? 'background job failed too often; parked for an operator' : 'background job refused; parked for an operator',
      );
      return;
    }
    const delayMs = backoffMs(job.attempts, this.options.maxBackoffMs, this.options.baseBackoffMs);
    await store.retry(job, delayMs, reason);
    this.metrics.jobs.inc({ worker: name, outcome: 'retry' });
    if (job.attempts >= 5) logger.warn({ ...details, retryInMs: delayMs }, 'background job still failing');
  }

  private claimFailed(error: unknown): void {
    if (this.failing) return;
    this.failing = true;
    this.options.logger.warn(
      { worker: this.options.name, reason: brief(error) },
      'background work paused: its jobs cannot be claimed; trying again at every poll',
    );
  }

  private recovered(): void {
    if (!this.failing) return;
    this.failing = false;
    this.options.logger.info({ worker: this.options.name }, 'background work resumed');
  }
}
