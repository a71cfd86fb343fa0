import { StartupError } from '@fedstack/runtime';

/** PostgreSQL could not be reached or refused the connection; the message is one line for a person. */
export class DatabaseUnavailableError extends StartupError {
  override name = 'DatabaseUnavailableError';
}

interface PgLikeError {
  code?: string;
  message?: string;
}

/** Where a connection string points, without its password. */
export function describeTarget(url: string): string {
  try {
    const parsed = new URL(url);
    const user = parsed.username ? `${decodeURIComponent(parsed.username)}@` : '';
    return `${user}${parsed.hostname}:${parsed.port || '5432'}${parsed.pathname}`;
  } catch {
    return '(unparseable URL)';
  }
}

/**
 * Turns a failed connection attempt into one line that says what is wrong, for start-up checks:
 * unreachable host, refused password, missing database...
 */
export function explainConnectionError(error: unknown, url: string, setting: string): DatabaseUnavailableError {
  const { code, message } = (error ?? {}) as PgLikeError;
  const target = describeTarget(url);
  const reasons: Record<string, string> = {
    ECONNREFUSED: 'nothing is listening there (connection refused)',
    ENOTFOUND: 'the host name does not resolve',
    EAI_AGAIN: 'the host name could not be resolved',
    ETIMEDOUT: 'the connection timed out',
    EHOSTUNREACH: 'the host is unreachable',
    '28P01': 'the password was refused',
    '28000': 'the server refuses this user (check pg_hba.conf and the user name)',
    '3D000': 'the database does not exist',
    '57P03': 'the server is starting up or shutting down',
    '53300': 'the server has no free connection slots',
  };
  const reason = (code && reasons[code]) ?? message ?? String(error);
  return new DatabaseUnavailableError(`${setting}: cannot connect to PostgreSQL at ${target}: ${reason}`);
}
