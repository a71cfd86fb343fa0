import { ConfigError, DatabaseUnavailableError } from '../errors';

/**
 * Runs a command-line entry point: a known start-up problem (bad setting, unreachable database) is
 * one line on stderr, anything else its stack; either way the exit code is 1.
 */
export function runMain(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      if (error instanceof ConfigError || error instanceof DatabaseUnavailableError) {
        console.error(`error: ${error.message}`);
      } else {
        console.error(error);
      }
      process.exit(1);
    },
  );
}
