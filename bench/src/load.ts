// Load generation (autocannon) and its figures: requests per second, latency percentiles, errors.
import autocannon from 'autocannon';

/** An answer's headers, by lower-case name, as autocannon gives them (a repeated header as a list). */
export type AnswerHeaders = Record<string, string | string[] | undefined>;

/** One request: its headers (a token) and body. */
export interface LoadRequest {
  headers: Record<string, string>;
  body: string;
  /** Told the answer's headers: a client that keeps what the server gives it, to send it back. */
  answered?: (headers: AnswerHeaders) => void;
}

export interface LoadTarget {
  /** A label such as "our gateway" or "Hive Gateway". */
  via: string;
  url: string;
  /** Called for every request: each gets a user, a token and a body of its own. */
  next: () => LoadRequest;
  /** Called with every answer's body (to collect acknowledged payments, say). */
  onAnswer?: (body: string) => void;
}

export interface LoadResult {
  requestsPerSecond: number;
  p50: number;
  p95: number;
  p99: number;
  requests: number;
  /** Transport errors, non-2xx answers, and 200 answers that are not data without errors (`isAnswer`). */
  errors: number;
}

function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)] as number;
}

function lowerCased(headers: Record<string, unknown> = {}): AnswerHeaders {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value as string | string[] | undefined]));
}

/** Drives one target for `seconds` with `connections` concurrent clients and measures every response. */
export async function drive(target: LoadTarget, seconds: number, connections: number): Promise<LoadResult> {
  const latencies: number[] = [];
  let graphqlErrors = 0;
  let finish: (result: autocannon.Result) => void = () => undefined;
  let fail: (error: Error) => void = () => undefined;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const instance = autocannon(
    {
      url: target.url,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      connections,
      duration: seconds,
      requests: [
        {
          method: 'POST',
          // The context is the connection's, for the one request it has in flight: it carries who sent it to its answer.
          setupRequest: (request, context: { answered?: LoadRequest['answered'] }) => {
            const { headers, body, answered } = target.next();
            context.answered = answered;
            return { ...request, headers: { ...request.headers, ...headers }, body };
          },
          onResponse: (_status, body, context: { answered?: LoadRequest['answered'] }, headers) => {
            if (!isAnswer(body)) graphqlErrors += 1;
            target.onAnswer?.(body);
            context.answered?.(lowerCased(headers));
          },
        },
      ],
    },
    (error, result) => (error ? fail(error as Error) : finish(result)),
  );
  instance.on('response', (_client, _status, _bytes, responseTime) => latencies.push(responseTime));
  const result = await done;
  latencies.sort((a, b) => a - b);
  return {
    requestsPerSecond: latencies.length / seconds,
    p50: percentile(latencies, 0.5),
    p95: percentile(latencies, 0.95),
    p99: percentile(latencies, 0.99),
    requests: latencies.length,
    // autocannon's `errors` counts its timeouts already.
    errors: result.errors + result.non2xx + graphqlErrors,
  };
}

/**
 * True for a GraphQL answer with data and no errors. A 200 that is not one (an HTML error page, an empty
 * body, `{"data":null}`) counted as served when only the text `"errors"` was looked for.
 */
export function isAnswer(body: string): boolean {
  try {
    const answer: unknown = JSON.parse(body);
    return (
      typeof answer === 'object' && answer !== null && !('errors' in answer) && 'data' in answer && typeof answer.data === 'object' && answer.data !== null
    );
  } catch {
    return false;
  }
}

/** The median of `values`: with an even number of them, the mean of the two in the middle; NaN for none. */
export function mid(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** The median of each figure over the rounds (rounds of different targets are interleaved). */
export function median(results: LoadResult[]): LoadResult {
  return {
    requestsPerSecond: mid(results.map((r) => r.requestsPerSecond)),
    p50: mid(results.map((r) => r.p50)),
    p95: mid(results.map((r) => r.p95)),
    p99: mid(results.map((r) => r.p99)),
    requests: results.reduce((sum, r) => sum + r.requests, 0),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
  };
}
