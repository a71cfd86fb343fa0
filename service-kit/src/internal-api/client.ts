// Calling other services' internal API: signed calls over keep-alive connections, and what their refusals mean.
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { type Service, AppError, ErrorCode, WAL_POSITIONS_HEADER, type WalPositions } from '@fedstack/runtime';
import { STATUS_OF } from './protocol';
import { signCall, type InternalIdentity } from './signing';

/** What one internal call answered: a result, or the error the other service refused with. */
export class InternalCallError extends Error {
  override name = 'InternalCallError';

  constructor(
    readonly service: Service,
    readonly status: number | null,
    message: string,
    readonly code?: string,
    readonly field?: string,
  ) {
    super(message);
  }

  /**
   * False only when the other service refused the call itself (400 bad input, 403 not allowed): asking
   * again will not change that. Anything else (unreachable, timed out, 5xx, a token it could not verify
   * yet, a route an older version lacks) may pass later.
   */
  get retryable(): boolean {
    return this.status !== 400 && this.status !== 403;
  }

  /**
   * True when the other service answered a command with a refusal of its own (bad input, not allowed,
   * not found, conflict): it did nothing, and the same command will get the same answer.
   */
  get refused(): boolean {
    return this.code !== undefined && this.code in STATUS_OF && this.status !== null && this.status < 500;
  }

  /**
   * The error to show the client who asked for it: the other service's refusal as it stated it (a conflict,
   * bad input...), or SUBGRAPH_UNAVAILABLE naming the service that could not answer in `unavailableService`
   * (the gateway sets `serviceName` to the subgraph that answered the client).
   */
  toClientError(): AppError {
    const code = this.code as ErrorCode | undefined;
    if (code && code in STATUS_OF) return new AppError(code, this.message, this.field ? { field: this.field } : {});
    // The peer's own failure comes masked ("Internal server error"): said as whose it was.
    const message = code === ErrorCode.INTERNAL_SERVER_ERROR ? `The ${this.service} service failed with an internal error; try again` : this.message;
    return new AppError(ErrorCode.SUBGRAPH_UNAVAILABLE, message, { unavailableService: this.service });
  }
}

/** Calls other services' internal API. */
export interface InternalClient {
  /**
   * Asks `service` to do something and answers its result. `written` records where the other service's
   * primary was once it had (when it has replicas), for the client's next reads (docs/adr/0012-read-replicas.md).
   */
  command<R>(service: Service, name: string, input: unknown, options?: { requestId?: string; written?: WalPositions }): Promise<R>;
  deliver(service: Service, event: { eventId: string; topic: string; payload: unknown; createdAt: Date }): Promise<void>;
  /** Whether `service` answers its readiness check (`/readyz`) with 200: up, with its database. */
  ready(service: Service): Promise<boolean>;
  close(): Promise<void>;
}

/** What a peer answered: its status, headers and body. */
interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** A keep-alive pool per scheme, closing an idle connection before the peer would (its `Keep-Alive: timeout`). */
function agents() {
  const options = { keepAlive: true, maxSockets: 16, timeout: 30_000 };
  return { 'http:': new http.Agent(options), 'https:': new https.Agent(options) };
}

/**
 * A POST of `body` to `url`, or a GET without one. Node's own HTTP client rather than undici, which every
 * service loaded for these calls alone: 5 MB of each service's idle memory (docs/performance.md, "What
 * each step saved", 10). Not `fetch` either, which refuses some ports a deployment may well use (6000...).
 */
function send(pool: ReturnType<typeof agents>, url: URL, headers: http.OutgoingHttpHeaders, body: string | undefined, signal: AbortSignal): Promise<Answer> {
  const secure = url.protocol === 'https:';
  const client = secure ? https : http;
  return new Promise((resolve, reject) => {
    const call = client.request(
      url,
      {
        method: body === undefined ? 'GET' : 'POST',
        agent: pool[secure ? 'https:' : 'http:'],
        headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) },
        signal,
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text }));
        response.on('error', reject);
      },
    );
    call.on('error', reject);
    call.end(body);
  });
}

/** A client for other services' internal API, over keep-alive connections with a timeout per call. */
export function createInternalClient(options: {
  identity: InternalIdentity;
  /** Each service's base URL (scheme, host, port). */
  peers: Record<Service, string>;
  timeoutMs: number;
}): InternalClient {
  const pool = agents();
  /** Calls under way, which `close` lets finish (each within its timeout); none starts after it. */
  const inFlight = new Set<Promise<Answer>>();
  let closed = false;
  const call = async (service: Service, pathname: string, payload: unknown, requestId?: string, written?: WalPositions): Promise<unknown> => {
    const body = JSON.stringify(payload);
    const signal = AbortSignal.timeout(options.timeoutMs);
    let answer: Answer;
    try {
      const headers = {
        'content-type': 'application/json',
        authorization: `Bearer ${await signCall(options.identity, service, pathname, body, options.timeoutMs)}`,
        ...(requestId ? { 'x-request-id': requestId } : {}),
      };
      if (closed) throw new Error('closed');
      const sent = send(pool, new URL(pathname, options.peers[service]), headers, body, signal);
      inFlight.add(sent);
      answer = await sent.finally(() => inFlight.delete(sent));
    } catch {
      const reason = signal.aborted ? `did not answer within ${options.timeoutMs} ms` : 'could not be reached';
      throw new InternalCallError(service, null, `The ${service} service ${reason}`);
    }
    let parsed: { result?: unknown; error?: { code?: string; message?: string; field?: string } } = {};
    try {
      parsed = JSON.parse(answer.text) as typeof parsed;
    } catch {
      // Reported below with the status.
    }
    if (answer.status >= 200 && answer.status < 300) {
      const position = answer.headers[WAL_POSITIONS_HEADER];
      if (written && typeof position === 'string') {
        try {
          written.merge(position);
        } catch {
          // Not positions, so not one of our services': the command's result stands, its reads may be stale.
        }
      }
      return parsed.result;
    }
    const { code, message, field } = parsed.error ?? {};
    throw new InternalCallError(service, answer.status, message ?? `The ${service} service answered HTTP ${answer.status}`, code, field);
  };
  return {
    async command<R>(service: Service, name: string, input: unknown, callOptions: { requestId?: string; written?: WalPositions } = {}) {
      return (await call(service, `/internal/commands/${name}`, input, callOptions.requestId, callOptions.written)) as R;
    },
    async deliver(service, event) {
      await call(service, '/internal/events', { ...event, createdAt: event.createdAt.toISOString() });
    },
    async ready(service) {
      if (closed) return false;
      try {
        return (await send(pool, new URL('/readyz', options.peers[service]), {}, undefined, AbortSignal.timeout(options.timeoutMs))).status === 200;
      } catch {
        return false;
      }
    },
    async close() {
      closed = true;
      await Promise.allSettled(inFlight);
      pool['http:'].destroy();
      pool['https:'].destroy();
    },
  };
}
