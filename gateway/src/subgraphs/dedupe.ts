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
 * Identical queries in flight at the same moment (same URL, operation, variables and headers other than
 * the request id and user agent, which no answer depends on) share one call, as Apollo Router's and Hive
 * Gateway's deduplication do; each caller gets its own copy of the answer. Mutations never share, and a
 * mutation's answer (or failure) through any subgraph of the process ends the sharing of every call sent
 * before it: a client's refetch after its write, sent while an identical poll is in flight, must not get
 * the poll's answer, read before the write. Only this process's mutations are seen: one answered by
 * another gateway worker or replica orders nothing here, so the setting is off by default
 * (DEDUPLICATE_QUERIES), and a client that sends back its WAL positions after a write (their header is in
 * the identity) never shares a call sent before it. Returns the wrapper for each subgraph's fetcher, all
 * of one process sharing its count of writes.
 */
export function queryDeduplication(): (fetcher: Fetcher) => Fetcher {
  let writesAnswered = 0;
  return (fetcher) => {
    const inFlight = new Map<string, { writesBefore: number; answer: Promise<FetcherResponse> }>();
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
      const key = `${target}\n${JSON.stringify(identity)}\n${body}`;
      let shared = inFlight.get(key);
      if (!shared || shared.writesBefore !== writesAnswered) {
        const sent = { writesBefore: writesAnswered, answer: fetcher(target, init) };
        inFlight.set(key, sent);
        // A later call for the same key may have taken its place meanwhile.
        const forget = () => inFlight.get(key) === sent && inFlight.delete(key);
        sent.answer.then(forget, forget);
        shared = sent;
      }
      return (await shared.answer).clone();
    };
  };
}
