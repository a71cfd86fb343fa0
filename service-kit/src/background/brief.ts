// An error in one line for a log: pg's errors carry the whole client, which has no place there.

/** The error's message, with its code where it has one (a PostgreSQL SQLSTATE, a system error). */
export function brief(error: unknown): string {
  const { message, code } = (error ?? {}) as { message?: string; code?: string };
  return code ? `${message ?? String(error)} (${code})` : (message ?? String(error));
}
