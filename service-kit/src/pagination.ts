import { badUserInput } from './errors';

export interface PageInfo {
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  startCursor: string | null;
  endCursor: string | null;
}

export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: PageInfo;
}

/** Cursors are opaque to clients: base64url of the sort key. */
export function encodeCursor(key: readonly string[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** The sort key in a cursor this service made; anything else is BAD_USER_INPUT on `field`. */
export function decodeCursor(cursor: string, length: number, field = 'after'): string[] {
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(key) && key.length === length && key.every((part) => typeof part === 'string')) return key;
  } catch {
    // Falls through to the error below.
  }
  throw badUserInput(field, 'is not a cursor from this list');
}

/** Validates `first`: absent is the default; outside 0..max is refused rather than silently changed. */
export function pageSize(first: number | null | undefined, limits: { default: number; max: number }, field = 'first'): number {
  if (first === null || first === undefined) return limits.default;
  if (!Number.isInteger(first) || first < 0 || first > limits.max) {
    throw badUserInput(field, `must be between 0 and ${limits.max} (got ${first})`);
  }
  return first;
}

/**
 * Builds a connection from rows fetched with one extra row (`first + 1`): the extra row only tells
 * that there is a next page.
 */
export function toConnection<T>(rows: T[], first: number, cursorOf: (row: T) => string, hasPreviousPage: boolean): Connection<T> {
  const page = rows.slice(0, first);
  const edges = page.map((node) => ({ cursor: cursorOf(node), node }));
  return {
    edges,
    pageInfo: {
      hasNextPage: rows.length > first,
      hasPreviousPage,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  };
}
