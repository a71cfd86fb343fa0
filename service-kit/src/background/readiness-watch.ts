// Work that waits out a growing backoff for a service it could not reach, made due once that service is back.
import type { Logger, Service } from '@fedstack/runtime';
import { brief } from './brief';

export interface ReadinessWatchOptions {
  /** Asks a service whether it is ready (the internal API's client). */
  ready(service: Service): Promise<boolean>;
  /** How often a service being watched is asked. */
  pollMs: number;
  /** Makes the work waiting for `service` due now. */
  onBack(service: Service): Promise<void>;
  /** What the work is, for the log line when `onBack` fails ("the outbox's events"). */
  what: string;
  logger: Logger;
}

/**
 * Asks each service work could not reach whether it is ready, every `pollMs`, and once it is again after
 * it was not, calls `onBack`. Each piece of work's own backoff grows to minutes, which then bounded how
 * late a service that came back heard of a change, or an erasure finished; asking costs no attempt and one
 * request per service, however much work waits. A service ready at the first question failed otherwise
 * (a 500, a slow answer): its work keeps its backoff.
 */
export class ReadinessWatch {
  private readonly watched = new Map<Service, NodeJS.Timeout>();
  private stopped = false;

  constructor(private readonly options: ReadinessWatchOptions) {}

  /** Starts asking `service`, unless it is being asked already. */
  watch(service: Service): void {
    if (this.watched.has(service) || this.stopped) return;
    let asking = false;
    let wasDown = false;
    const timer = setInterval(() => {
      if (asking) return;
      asking = true;
      void (async () => {
        const ready = await this.options.ready(service);
        wasDown ||= !ready;
        if (!ready || this.stopped) return;
        clearInterval(timer);
        this.watched.delete(service);
        if (wasDown) await this.options.onBack(service);
      })()
        .catch((error: unknown) => this.options.logger.warn({ service, reason: brief(error) }, `could not hurry ${this.options.what} for a service back up`))
        .finally(() => (asking = false));
    }, this.options.pollMs);
    timer.unref();
    this.watched.set(service, timer);
  }

  /** Stops asking (the process is stopping). */
  stop(): void {
    this.stopped = true;
    for (const timer of this.watched.values()) clearInterval(timer);
    this.watched.clear();
  }
}
