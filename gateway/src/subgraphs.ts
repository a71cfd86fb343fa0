import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { GraphQLError } from 'graphql';
import { Agent } from 'undici';
import { ErrorCode } from '@fedstack/runtime';
import type { Histogram } from 'prom-client';

/** What the gateway knows about the request it is serving, forwarded to every subgraph call. */
export interface GatewayContext {
  requestId: string;
  authorization: string | undefined;
  clientAddress: string | undefined;
}

export interface SubgraphClientOptions {
  name: string;
  url: string;
  timeoutMs: number;
  /** One connection pool per subgraph, shared by every request. */
  agent: Agent;
  fetchDuration: Histogram<'subgraph' | 'outcome'>;
}

/** True when the body's operation is a mutation, which must reach the subgraph once per request. */
function isMutation(body: string): boolean {
  // The data source serialises the operation first; only an unusual body needs parsing.
  const prefix = /^\{"query":"\s*(mutation\b)?/.exec(body);
  if (prefix) return prefix[1] !== undefined;
  try {
    return /^\s*mutation\b/.test((JSON.parse(body) as { query?: string }).query ?? '');
  } catch {
    return true;
  }
}

/** A keep-alive pool for one subgraph: at most `connections` sockets, idle ones kept for 30 s. */
export function subgraphAgent(connections: number): Agent {
  return new Agent({ connections, keepAliveTimeout: 30_000, keepAliveMaxTimeout: 60_000, pipelining: 1 });
}

type DataSourceFetcher = NonNullable<ConstructorParameters<typeof RemoteGraphQLDataSource>[0]>['fetcher'];

interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * The little of the Fetch API's Response that the data source reads. undici's `request` is used instead
 * of its `fetch`, whose web streams cost the gateway a noticeable share of its CPU per call.
 */
class SubgraphResponse {
  readonly ok: boolean;
  readonly statusText = '';
  readonly headers: { get(name: string): string | null };

  constructor(
    readonly url: string,
    private readonly answer: RawAnswer,
  ) {
    this.ok = answer.status >= 200 && answer.status < 300;
    this.headers = {
      get: (name) => {
        const value = answer.headers[name.toLowerCase()];
        return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
      },
    };
  }

  get status(): number {
    return this.answer.status;
  }

  async text(): Promise<string> {
    return this.answer.body;
  }

  async json(): Promise<unknown> {
    return JSON.parse(this.answer.body);
  }
}

/**
 * Calls one subgraph: forwards the caller's credentials, request id and address; bounds every call by a
 * timeout on a pooled keep-alive connection; and reports a subgraph that cannot be reached as an error
 * that names it, so that the other subgraphs' data still reaches the client. Identical queries in flight
 * at the same moment (same operation, variables and credentials) share one subgraph call, as Apollo
 * Router's and Hive Gateway's deduplication do; mutations never do.
 */
export class SubgraphDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  constructor(options: SubgraphClientOptions) {
    const { name, timeoutMs, agent, fetchDuration } = options;
    const inFlight = new Map<string, Promise<RawAnswer>>();
    const call = async (url: URL, method: string, headers: Record<string, string>, body: string): Promise<RawAnswer> => {
      const started = performance.now();
      let outcome = 'ok';
      try {
        const response = await agent.request({
          origin: url.origin,
          path: `${url.pathname}${url.search}`,
          method: method as 'POST',
          headers,
          body,
          signal: AbortSignal.timeout(timeoutMs),
        });
        return { status: response.statusCode, headers: response.headers, body: await response.body.text() };
      } catch (error) {
        outcome = (error as Error).name === 'TimeoutError' ? 'timeout' : 'error';
        throw error;
      } finally {
        fetchDuration.observe({ subgraph: name, outcome }, (performance.now() - started) / 1000);
      }
    };
    const fetcher = (async (target: string, init: { method?: string; headers?: Record<string, string>; body?: string }) => {
      const url = new URL(target);
      const headers = init.headers ?? {};
      const body = init.body ?? '';
      const { 'x-request-id': _requestId, ...identity } = headers;
      const key = isMutation(body) ? null : `${target}\n${JSON.stringify(identity)}\n${body}`;
      let answer = key ? inFlight.get(key) : undefined;
      if (!answer) {
        answer = call(url, init.method ?? 'POST', headers, body);
        if (key) {
          inFlight.set(key, answer);
          const forget = () => inFlight.delete(key);
          answer.then(forget, forget);
        }
      }
      return new SubgraphResponse(target, await answer);
    }) as unknown as DataSourceFetcher;
    super({ url: options.url, fetcher });
    this.subgraph = name;
    this.timeoutMs = timeoutMs;
  }

  private readonly subgraph: string;
  private readonly timeoutMs: number;

  override willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<GatewayContext>): void {
    const headers = request.http?.headers;
    if (!headers || !context) return;
    if ('requestId' in context && context.requestId) headers.set('x-request-id', context.requestId);
    if ('authorization' in context && context.authorization) headers.set('authorization', context.authorization);
    if ('clientAddress' in context && context.clientAddress) headers.set('x-forwarded-for', context.clientAddress);
  }

  /** A subgraph's own GraphQL errors (a 400 for a bad variable, say) are passed on as it wrote them. */
  override async errorFromResponse(response: Parameters<RemoteGraphQLDataSource['errorFromResponse']>[0]): Promise<GraphQLError> {
    const body = (await this.parseBody(response)) as { errors?: { message: string; extensions?: Record<string, unknown> }[] } | string;
    const first = typeof body === 'object' ? body.errors?.[0] : undefined;
    if (first?.message) return new GraphQLError(first.message, { extensions: { ...first.extensions, serviceName: this.subgraph } });
    return this.unavailable(`answered HTTP ${response.status}`);
  }

  override didEncounterError(error: Error): never {
    if (error instanceof GraphQLError) throw error;
    throw this.unavailable(error.name === 'TimeoutError' ? `did not answer within ${this.timeoutMs} ms` : 'could not be reached');
  }

  private unavailable(reason: string): GraphQLError {
    return new GraphQLError(`The ${this.subgraph} subgraph ${reason}`, {
      extensions: { code: ErrorCode.SUBGRAPH_UNAVAILABLE, serviceName: this.subgraph },
    });
  }
}
