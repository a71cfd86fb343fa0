// The logger every process writes with: JSON on stdout, credentials redacted.
import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config';

/** Where a logger writes (tests capture lines this way); stdout when none is given. */
export type LogDestination = DestinationStream;
export type { Logger };

/**
 * JSON logs, one object a line, with the process's name and id on every line: the id tells a gateway's
 * workers apart, and matches the primary's "worker <pid> exited".
 */
export function createLogger(name: string, level: LogLevel, destination?: LogDestination): Logger {
  const options = {
    name,
    level,
    base: { service: name, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    // Credentials must never reach a log line, whatever a caller passes in.
    redact: ['req.headers.authorization', '*.password', '*.refreshToken', '*.accessToken'],
  };
  return destination ? pino(options, destination) : pino(options);
}
