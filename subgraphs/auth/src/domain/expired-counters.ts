// Deleting the throttle's expired counters: auth's one periodic chore, which stops with the server.
import type { Logger } from '@fedstack/runtime';
import type { ServiceClient } from '@fedstack/shared-db';
import { brief, type BackgroundWorker } from '@fedstack/service-kit';

/** How often expired counters are deleted (rate-limiter-flexible's own interval). */
const SWEEP_EVERY_MS = 5 * 60_000;
/** How long past its expiry a counter is kept before it is deleted (rate-limiter-flexible's own choice). */
const KEPT_PAST_EXPIRY_MS = 60 * 60_000;

/**
 * Deletes the sign-in and registration counters that expired over an hour ago, every few minutes, in
 * every process of auth (where another has just done it, the delete finds nothing: one indexed statement). rate-limiter-
 * flexible can do this itself, on a timer that nothing stops: it outlived the server and its database
 * client (each later sweep failed on the ended pool), and it reported a failure with console.warn, a whole
 * error object outside the service's JSON log. Here the sweep stops with the server, and a failure (the
 * database away) is one warning in the log, tried again at the next interval.
 */
export function expiredCounterSweep(db: ServiceClient<'auth'>, logger: Logger, everyMs = SWEEP_EVERY_MS): BackgroundWorker {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  const sweep = async () => {
    try {
      const { count } = await db.rateLimit.deleteMany({ where: { expire: { lt: new Date(Date.now() - KEPT_PAST_EXPIRY_MS) } } });
      if (count > 0) logger.debug({ count }, 'expired sign-in counters deleted');
    } catch (error) {
      logger.warn({ reason: brief(error) }, 'expired sign-in counters not deleted; trying again at the next sweep');
    }
  };
  return {
    start() {
      // Unreferenced: the chore never keeps a process alive by itself.
      timer = setInterval(() => void (running ??= sweep().finally(() => (running = undefined))), everyMs).unref();
    },
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
