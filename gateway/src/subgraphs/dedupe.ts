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
 * When the client's request reached this gateway (`performance.now()`), from the data source to the
 * deduplication below, which takes it off before the call goes out.
 */
export const ARRIVED_AT_HEADER = 'x-gateway-arrived-at';

/**
 * Identical queries in flight at the same moment (same URL, operation, variables and headers other than
 * the request id and user agent, which no answer depends on) share one call, as Apollo Router's and Hive
 * Gateway's deduplication do; each caller gets its own copy of the answer. Mutations never share. A query
 * joins only a call sent after its own request reached the gateway: one sent before may have read what a
 * write answered since changed, and the client's next query, sent after that answer, must see its write
 * (a refetch while a poll is in flight), whichever process or replica of the gateway took the write. A
 * call made with no time of arrival counts as arrived now.
 */
export function deduplicated(fetcher: Fetcher): Fetcher {
  const inFlight = new Map<string, { sentAt: number; answer: Promise<FetcherResponse> }>();
  return async (target: string, init: FetcherRequestInit = {}) => {
    const { [ARRIVED_AT_HEADER]: arrival, ...headers } = init.headers ?? {};
    const arrivedAt = arrival === undefined ? performance.now() : Number(arrival);
    const call = { ...init, headers };
    const body = typeof init.body === 'string' ? init.body : (init.body?.toString('utf8') ?? '');
    if (isMutation(body)) return fetcher(target, call);
    const { 'x-request-id': _requestId, 'user-agent': _userAgent, ...identity } = headers;
    const key = `${target}\n${JSON.stringify(identity)}\n${body}`;
    let shared = inFlight.get(key);
    if (!shared || shared.sentAt < arrivedAt) {
      const sent = { sentAt: performance.now(), answer: fetcher(target, call) };
      inFlight.set(key, sent);
      // A later call for the same key may have taken its place meanwhile.
      const forget = () => inFlight.get(key) === sent && inFlight.delete(key);
      sent.answer.then(forget, forget);
      shared = sent;
    }
    return (await shared.answer).clone();
  };
}
