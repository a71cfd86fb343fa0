// Database failures: a failed connection told in one line at start, and whether an error means the database is out of reach.
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
 * A connection URL to print for an operator to copy: each password in it (the user's, or libpq's
 * `password` parameter) replaced by `<password>`, so that it stays out of the terminal and its logs.
 */
export function withoutPasswords(url: string): string {
  const parsed = new URL(url);
  const user = parsed.username ? `${parsed.username}${parsed.password ? ':<password>' : ''}@` : '';
  const search = parsed.search.replace(/([?&]password=)[^&]*/gi, '$1<password>');
  return `${parsed.protocol}//${user}${parsed.host}${parsed.pathname}${search}`;
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
  // node-postgres's own words when the server asks a password of a URL that gives none.
  const noPassword = typeof message === 'string' && message.includes('client password must be a string');
  const reason = (code && reasons[code]) ?? (noPassword ? 'the server asks a password, and the URL gives none' : (message ?? String(error)));
  // Out of reach for now (down, starting, full), rather than refusing it (a password, a database that does not exist).
  return new DatabaseUnavailableError(`${setting}: cannot connect to PostgreSQL at ${target}: ${reason}`, {
    cause: error,
    temporary: isDatabaseUnavailable(error),
  });
}

/** Socket errors meaning the server cannot be reached or the connection to it broke. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/**
 * PostgreSQL's own: the server shutting down or crashed (57P01, 57P02), starting up or in recovery
 * (57P03), out of connection slots (53300), and connection exceptions (class 08).
 */
const SERVER_GONE = /^(57P0[123]|53300|08...)$/;
/** Prisma's codes for the same, and the driver adapter's kinds behind them. */
const PRISMA_UNREACHABLE = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2037']);
const ADAPTER_UNREACHABLE = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections']);
/**
 * node-postgres's errors without a code: the connection ended under a query, a pool could not connect in
 * time, or a statement had no answer within the pool's `query_timeout` (replicas' reads); and PostgreSQL's
 * refusal of a database closed to connections (55000, a code other states share: `db:split`'s retired source).
 */
const DRIVER_MESSAGES =
  /Connection terminated|not queryable|timeout exceeded when trying to connect|Query read timeout|Can't reach database server|Server has closed the connection|is not currently accepting connections/;

interface ErrorShape {
  code?: unknown;
  kind?: unknown;
  originalCode?: unknown;
  message?: unknown;
  cause?: unknown;
  originalError?: unknown;
  meta?: { driverAdapterError?: unknown };
}

/**
 * True when `error` means the database could not be reached or the connection was lost, rather than a
 * statement failing on its own: whatever raised it (node-postgres, Prisma, its driver adapter), however
 * deep it is wrapped. Asking again later, once the server is back, is the remedy.
 */
export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (error === null || typeof error !== 'object' || depth > 5) return false;
  const { code, kind, originalCode, message, cause, originalError, meta } = error as ErrorShape;
  if (typeof code === 'string' && (UNREACHABLE.has(code) || SERVER_GONE.test(code) || PRISMA_UNREACHABLE.has(code))) return true;
  if (typeof originalCode === 'string' && SERVER_GONE.test(originalCode)) return true;
  if (typeof kind === 'string' && ADAPTER_UNREACHABLE.has(kind)) return true;
  if (typeof message === 'string' && DRIVER_MESSAGES.test(message)) return true;
  return [cause, originalError, meta?.driverAdapterError].some((inner) => isDatabaseUnavailable(inner, depth + 1));
}

/**
 * Whether the server cancelled the statement (57014: `statement_timeout`, an operator's
 * `pg_cancel_backend`): nothing of it was done, and asking again may well work.
 */
export function isStatementCancelled(error: unknown, depth = 0): boolean {
  if (error === null || typeof error !== 'object' || depth > 5) return false;
  const { code, originalCode, cause, originalError, meta } = error as ErrorShape;
  if (code === '57014' || originalCode === '57014') return true;
  return [cause, originalError, meta?.driverAdapterError].some((inner) => isStatementCancelled(inner, depth + 1));
}
