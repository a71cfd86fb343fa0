// Subscribing through the gateway as apps do: graphql-ws over WebSocket, graphql-sse, Apollo's multipart HTTP.
import { createClient as createWsClient, type Client } from 'graphql-ws';
import { createClient as createSseClient } from 'graphql-sse';
import { request } from 'undici';
import WebSocket from 'ws';

export interface Result {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
  extensions?: Record<string, unknown>;
}

/** How a subscription ended: completed by the server, or failed (a close code, an error). */
export interface Ending {
  completed: boolean;
  error?: unknown;
}

/**
 * One subscription's results as they arrive, to wait on: `next` resolves with the next result (or
 * rejects after `timeoutMs` saying what it waited for), `ended` once the subscription is over.
 */
export class Subscription {
  private readonly results: Result[] = [];
  private waiting: (() => void) | undefined;
  private finished: Ending | undefined;
  readonly ended: Promise<Ending>;
  private end!: (ending: Ending) => void;

  constructor(readonly unsubscribe: () => void) {
    this.ended = new Promise((resolve) => (this.end = resolve));
  }

  push(result: Result): void {
    this.results.push(result);
    this.waiting?.();
  }

  finish(ending: Ending): void {
    this.finished ??= ending;
    this.end(this.finished);
    this.waiting?.();
  }

  /** The next result, or the subscription's end as an error if it ends first. */
  async next(timeoutMs = 10_000): Promise<Result> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const result = this.results.shift();
      if (result) return result;
      if (this.finished) throw new Error(`the subscription ended (${JSON.stringify(this.finished)}) before another result`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no result within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiting = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiting = undefined;
    }
  }

  /** Results until one `matches`, which it returns; fails if the subscription ends or the time is up first. */
  async until(matches: (result: Result) => boolean, timeoutMs = 10_000): Promise<Result> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const result = await this.next(Math.max(1, deadline - Date.now()));
      if (matches(result)) return result;
    }
  }

  /** Results received and not yet taken. */
  get pending(): readonly Result[] {
    return this.results;
  }
}

/** A graphql-ws connection to the gateway (`ws://…/graphql`) as `token`'s holder, or anonymous. */
export function wsClient(gatewayUrl: string, token: string | undefined, options: { onClosed?: (code: number, reason: string) => void } = {}): Client {
  const url = gatewayUrl.replace(/^http/, 'ws');
  return createWsClient({
    url,
    webSocketImpl: WebSocket,
    lazy: false,
    retryAttempts: 0,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    on: { closed: (event) => options.onClosed?.((event as { code: number }).code, String((event as { reason?: string }).reason ?? '')) },
    onNonLazyError: () => undefined,
  });
}

/** What a transport's error was: a WebSocket close (code and reason), GraphQL errors, or a message. */
function described(error: unknown): unknown {
  if (Array.isArray(error)) return error;
  const { code, reason, message } = (error ?? {}) as { code?: number; reason?: string; message?: string };
  if (code !== undefined) return { code, reason };
  return message ?? String(error);
}

/** What graphql-ws's and graphql-sse's clients both subscribe with (their type parameter, the result data, unused here). */
interface SinkClient {
  subscribe<_Data>(
    payload: { query: string; variables: Record<string, unknown> },
    sink: { next(result: unknown): void; error(error: unknown): void; complete(): void },
  ): () => void;
}

/** A Subscription fed by a graphql-ws or graphql-sse client's sink; `close` runs after unsubscribing. */
function bySink(client: SinkClient, query: string, variables: Record<string, unknown>, close: () => void = () => undefined): Subscription {
  let dispose: () => void = () => undefined;
  const subscription = new Subscription(() => {
    dispose();
    close();
  });
  dispose = client.subscribe<Record<string, unknown>>(
    { query, variables },
    {
      next: (result) => subscription.push(result as Result),
      error: (error) => subscription.finish({ completed: false, error: described(error) }),
      complete: () => subscription.finish({ completed: true }),
    },
  );
  return subscription;
}

/** Subscribes on a graphql-ws connection. */
export function overWebSocket(client: Client, query: string, variables: Record<string, unknown> = {}): Subscription {
  return bySink(client, query, variables);
}

/** Subscribes over Server-Sent Events (graphql-sse, distinct connections mode) as `token`'s holder. */
export function overSse(
  gatewayUrl: string,
  token: string | undefined,
  query: string,
  variables: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Subscription {
  const client = createSseClient({ url: gatewayUrl, headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) }, retryAttempts: 0 });
  return bySink(client, query, variables, () => client.dispose());
}

/**
 * Subscribes over Apollo's multipart HTTP subscription protocol, as Apollo Client's HttpLink does: each
 * part `{"payload": result}`, `{}` heartbeats skipped, the closing boundary the end.
 */
export function overMultipart(gatewayUrl: string, token: string | undefined, query: string, variables: Record<string, unknown> = {}): Subscription {
  const controller = new AbortController();
  const subscription = new Subscription(() => controller.abort());
  void (async () => {
    try {
      const response = await request(gatewayUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'multipart/mixed;boundary="graphql";subscriptionSpec="1.0",application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({ query, variables }),
        signal: controller.signal,
      });
      let buffer = '';
      for await (const chunk of response.body) {
        buffer += (chunk as Buffer).toString('utf8');
        const parts = buffer.split('\r\n--graphql');
        buffer = parts.pop() ?? '';
        for (const part of parts) {
          const body = part.slice(part.indexOf('\r\n\r\n') + 4).trim();
          if (!body) continue;
          const parsed = JSON.parse(body) as { payload?: Result };
          if (parsed.payload) subscription.push(parsed.payload);
        }
        if (buffer.startsWith('--')) break;
      }
      subscription.finish({ completed: true });
    } catch (error) {
      subscription.finish({ completed: false, error: described(error) });
    }
  })();
  return subscription;
}
