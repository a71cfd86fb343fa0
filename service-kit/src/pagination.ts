// Cursor pagination: the connection every list returns, its cursors, and its page sizes.
import { badUserInput } from '@fedstack/runtime';
import { isUuid } from './ids';
import { isStorableInstant } from './scalars';

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

/** A row's place in a newest-first list: every list here is ordered by (createdAt, id) descending. */
export interface ListPosition {
  createdAt: Date;
  id: string;
}

/** Cursors are opaque to clients: base64url of the row's position. */
export function encodeCursor(row: ListPosition): string {
  return Buffer.from(JSON.stringify([row.createdAt.toISOString(), row.id])).toString('base64url');
}

/** The position in a cursor this service made; anything else is BAD_USER_INPUT on `field`. */
export function decodeCursor(cursor: string, field = 'after'): ListPosition {
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(key) && key.length === 2 && typeof key[0] === 'string' && isUuid(key[1])) {
      const createdAt = new Date(key[0]);
      if (isStorableInstant(createdAt)) return { createdAt, id: key[1] as string };
    }
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
 * that there is a next page. `position` is where a row stands in the list's order (its createdAt and id
 * unless the list is ordered by another time).
 */
export function toConnection<T extends ListPosition>(
  rows: T[],
  first: number,
  hasPreviousPage: boolean,
  position: (row: T) => ListPosition = (row) => row,
): Connection<T> {
  const page = rows.slice(0, first);
  const edges = page.map((node) => ({ cursor: encodeCursor(position(node)), node }));
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
