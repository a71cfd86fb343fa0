// How every entry point starts and stops: commands, servers, and what they read from their command line.
import cluster from 'node:cluster';
import { flushCompileCache } from 'node:module';
import { ConfigError, EXIT_UNAVAILABLE, StartupError } from './errors';
import type { Logger } from './logger';
import { within } from './poll';
import { misspeltSettings } from './settings';
import type { Tracing } from './tracing';

/** How long a stopping process gives the trace collector its last spans. */
const LAST_SPANS_MS = 2000;

/**
 * Sends the spans `tracing` still holds, or leaves them after LAST_SPANS_MS: a collector away or silent
 * held a stopping process the exporter's 10 s past its own grace, and then made its clean stop exit 1.
 */
async function sendLastSpans(tracing: Tracing | undefined, logger: Logger): Promise<void> {
  if (!tracing) return;
  try {
    await within(tracing.shutdown(), LAST_SPANS_MS, `the trace collector took no spans within ${LAST_SPANS_MS} ms`);
  } catch (error) {
    logger.warn({ err: error }, 'spans left unsent on the way out');
  }
}

/**
 * Runs a command-line entry point: a known start-up problem (bad setting, unreachable database) is
 * one line on stderr, anything else its stack; either way the exit code is 1.
 */
export function runMain(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      if (error instanceof StartupError) {
        console.error(`error: ${error.message}`);
      } else {
        console.error(error);
      }
      process.exit(1);
    },
  );
}

/** What `read` returns; if it throws (a bad setting, say), one line on stderr and exit code 1. */
export function orExit<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}

/**
 * Runs a server process: builds and starts it, stops it gracefully on SIGINT or SIGTERM (then sends the
 * spans `tracing` still holds, if the collector takes them), and turns a start-up failure into one line on
 * stderr and exit code 1, or `EXIT_UNAVAILABLE` when what it needs could not be reached (a `temporary`
 * StartupError). Once started, it warns of each variable a slip away from one of `settings` (the
 * process's own): a misspelt setting is ignored.
 */
export function serve(start: () => Promise<{ stop(): Promise<void>; logger: Logger }>, tracing?: Tracing, settings: object = {}): void {
  start().then(
    (server) => {
      for (const { given, meant } of misspeltSettings(process.env, Object.keys(settings))) {
        server.logger.warn({ variable: given, setting: meant }, `${given} is no setting of this process, and is ignored: ${meant} was meant?`);
      }
      let stopping = false;
      // Why, as the log line's fields: the signal, or the starter's going.
      const shutdown = (why: { signal: NodeJS.Signals } | { reason: string }) => {
        if (stopping) return;
        stopping = true;
        server.logger.info(why, 'shutting down');
        server
          .stop()
          .then(() => sendLastSpans(tracing, server.logger))
          .then(
            () => process.exit(0),
            (error: unknown) => {
              server.logger.error({ err: error }, 'shutdown failed');
              process.exit(1);
            },
          );
      };
      for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => shutdown({ signal }));
      whenStarterGone(() => shutdown({ reason: 'the process that started it has exited' }));
      // Node writes its compile cache (NODE_COMPILE_CACHE) only as a process exits: a process killed never
      // left it, and one exiting spent a second or more writing it with its connections still open (a
      // gateway worker whose primary had died took a client's next request on a kept-alive connection,
      // then reset it). Written once started, exiting has next to nothing left to write.
      flushCompileCache();
    },
    (error: unknown) => {
      console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(error instanceof StartupError && error.temporary ? EXIT_UNAVAILABLE : 1);
    },
  );
}

/**
 * Runs `onGone` once the process that started this one with an IPC channel (`npm start` does) is gone,
 * however it went: a launcher killed with kill -9 or by the OOM killer passes no signal on, and the
 * services it had started, each in a session of its own, ran on holding their ports, so that the next
 * `npm start` could not start. A process started without a channel (from a shell, by a container
 * runtime) is not concerned; nor is a gateway worker, which node:cluster stops when its primary goes.
 */
export function whenStarterGone(onGone: () => void): void {
  if (!process.channel || cluster.isWorker) return;
  // The channel carries no messages: it must not keep the process alive on its own.
  process.channel.unref();
  process.once('disconnect', onGone);
}

/**
 * A command's arguments, read by `read` (node:util's parseArgs): an unknown option or a missing value
 * becomes a ConfigError, one line naming the command, which `runMain` prints without a stack.
 */
export function commandLine<T>(command: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    // Node's own lines, but for the last of three (how to give a value starting with a dash), on one.
    const [what, hint] = (error as Error).message.split('\n');
    throw new ConfigError(`${command}: ${what}${hint?.startsWith('Did you forget') ? ` ${hint}` : ''}`);
  }
}
