// Fewer subgraph calls under load: a query asked again while the same one is in flight is not sent twice.
import type { Fetcher, FetcherRequestInit, FetcherResponse } from '@apollo/utils.fetcher';

/** True when the body's operation is a mutation, which must reach the subgraph once per request. */
export function isMutation(body: string): boolean {
  // The data source serialises the operation first and prints it without leading space; any other body
  // is parsed.
  if (body.startsWith('{"query":"mutation')) return true;
  if (body.startsWith('{"query":"query') || body.startsWith('{"query":"{')) return false;
  try {
    // GraphQL ignores white space, commas, a byte order mark and comments before the operation.
    return /^(?:[\s,\uFEFF]|#[^\n\r]*[\n\r])*mutation\b/.test((JSON.parse(body) as { query?: string }).query ?? '');
  } catch {
    return true;
  }
}

/**
 * Mutations answered by any subgraph of this process so far. A query joins only one that was sent since the
 * last of them: one sent before a client's mutation answered may have read what it changed, and the
 * client's next query, sent after, must see its write (a refetch while a poll is in flight).
 */
let writesAnswered = 0;

/**
 * Identical queries in flight at the same moment (same URL, operation, variables and headers other than
 * the request id and user agent, which no answer depends on) share one call, as Apollo Router's and Hive Gateway's deduplication do; each caller
 * gets its own copy of the answer. Mutations never share.
 */
export function deduplicated(fetcher: Fetcher): Fetcher {
  const inFlight = new Map<string, Promise<FetcherResponse>>();
  return async (target: string, init: FetcherRequestInit = {}) => {
    const body = typeof init.body === 'string' ? init.body : (init.body?.toString('utf8') ?? '');
    if (isMutation(body)) {
      try {
        return await fetcher(target, init);
      } finally {
        writesAnswered += 1;
      }
    }
    const { 'x-request-id': _requestId, 'user-agent': _userAgent, ...identity } = init.headers ?? {};
    const key = `${writesAnswered}\n${target}\n${JSON.stringify(identity)}\n${body}`;
    let shared = inFlight.get(key);
    if (!shared) {
      shared = fetcher(target, init);
      inFlight.set(key, shared);
      const forget = () => inFlight.delete(key);
      shared.then(forget, forget);
    }
    return (await shared).clone();
  };
}
