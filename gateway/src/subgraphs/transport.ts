// The transport under every subgraph call: a connection pool per subgraph, each call bounded in time, its answer buffered.
import type { Fetcher, FetcherHeaders, FetcherRequestInit, FetcherResponse } from '@apollo/utils.fetcher';
import { Agent } from 'undici';
import { DEADLINE_HEADER, deadlineIn } from '@fedstack/runtime';

/**
 * A keep-alive pool for one subgraph: at most `connections` sockets, idle ones kept for 30 s, and no answer
 * read past `maxResponseBytes` (one of 150 MB, read whole, ran a gateway worker out of memory and ended it
 * with every connection on it); a call whose answer is longer fails with `UND_ERR_RES_EXCEEDED_MAX_SIZE`.
 */
export function subgraphAgent(connections: number, maxResponseBytes: number): Agent {
  return new Agent({ connections, keepAliveTimeout: 30_000, keepAliveMaxTimeout: 60_000, pipelining: 1, maxResponseSize: maxResponseBytes });
}

/** Whether a call failed for an answer longer than its pool reads (`subgraphAgent`). */
export function isTooLongAnswer(error: Error): boolean {
  return (error as Error & { code?: string }).code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE';
}

/**
 * A subgraph's answer, read in full, with the Fetch API's Response semantics the gateway relies on (a body
 * read once, `clone()` before reading). Not a `Response` itself: building one and reading it back costs
 * 11 µs per call against 0.3 µs for this (Node 20, a 50-user answer), on every subgraph call.
 */
export class BufferedResponse implements FetcherResponse {
  readonly redirected = false;
  readonly statusText = '';
  readonly ok: boolean;
  private used = false;

  constructor(
    readonly url: string,
    readonly status: number,
    readonly headers: FetcherHeaders,
    private readonly body: string,
  ) {
    this.ok = status >= 200 && status < 300;
  }

  get bodyUsed(): boolean {
    return this.used;
  }

  private consume(): string {
    if (this.used) throw new TypeError('Body is unusable: body has already been read');
    this.used = true;
    return this.body;
  }

  async text(): Promise<string> {
    return this.consume();
  }

  async json(): Promise<unknown> {
    return JSON.parse(this.consume()) as unknown;
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = Buffer.from(this.consume());
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  }

  /** Whether the body's first character, past white space, opens a JSON object. */
  startsLikeAnObject(): boolean {
    return /^\s*\{/.test(this.body);
  }

  clone(): BufferedResponse {
    if (this.used) throw new TypeError('Response.clone: body has already been read');
    return new BufferedResponse(this.url, this.status, new Headers(this.headers as Headers), this.body);
  }
}

export type CallOutcome = 'ok' | 'error' | 'timeout';

/**
 * Whether an answer is a failing subgraph's, as its metrics and circuit breaker count it: a 5xx, or a 2xx
 * whose body is no JSON object (truncated, a proxy's page, a misrouted service), which the gateway cannot
 * use either: counted as ok, such answers never opened the breaker. Only the first characters are looked at.
 */
export function isFailedAnswer(response: FetcherResponse): boolean {
  if (response.status >= 500) return true;
  return response.ok && response instanceof BufferedResponse && !response.startsLikeAnObject();
}

export interface TransportOptions {
  /** The subgraph's connection pool, shared by every request. */
  agent: Agent;
  /** Time a call may take, connection to last byte, in milliseconds. */
  timeoutMs: number;
  /** Told how each call ended (a failed answer, `isFailedAnswer`: `error`) and how long it took, in seconds. */
  onCall?: (outcome: CallOutcome, seconds: number) => void;
}

/**
 * The gateway's HTTP client for one subgraph: a pooled keep-alive call bounded by a timeout (undici's
 * `request`; its `fetch` spends noticeably more CPU per call on web streams). A call over the time fails
 * with a `TimeoutError`.
 */
export function subgraphTransport({ agent, timeoutMs, onCall }: TransportOptions): Fetcher {
  return async (target: string, init: FetcherRequestInit = {}) => {
    const url = new URL(target);
    const started = performance.now();
    let outcome: CallOutcome = 'ok';
    try {
      const response = await agent.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: init.method ?? 'POST',
        // The subgraph runs nothing that reaches it after the gateway stopped waiting (a host that hung, back).
        headers: { ...init.headers, [DEADLINE_HEADER]: deadlineIn(timeoutMs) },
        body: init.body ?? '',
        signal: AbortSignal.timeout(timeoutMs),
      });
      const headers = new Headers();
      for (const [name, value] of Object.entries(response.headers)) {
        for (const each of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, each);
      }
      const answer = new BufferedResponse(target, response.statusCode, headers, await response.body.text());
      // An answer the caller still gets, but a failing subgraph's (as its circuit breaker counts it): an
      // error for the metrics, where a 503 from a subgraph without its database had counted as ok.
      if (isFailedAnswer(answer)) outcome = 'error';
      return answer;
    } catch (error) {
      outcome = (error as Error).name === 'TimeoutError' ? 'timeout' : 'error';
      throw error;
    } finally {
      onCall?.(outcome, (performance.now() - started) / 1000);
    }
  };
}
