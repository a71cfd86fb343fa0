import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { GraphQLError } from 'graphql';
import { Agent, fetch as undiciFetch } from 'undici';
import { ErrorCode } from '@fedstack/service-kit';
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

/** A keep-alive pool for one subgraph: at most `connections` sockets, idle ones kept for 30 s. */
export function subgraphAgent(connections: number): Agent {
  return new Agent({ connections, keepAliveTimeout: 30_000, keepAliveMaxTimeout: 60_000, pipelining: 1 });
}

type DataSourceFetcher = NonNullable<ConstructorParameters<typeof RemoteGraphQLDataSource>[0]>['fetcher'];

/**
 * Calls one subgraph: forwards the caller's credentials, request id and address; bounds every call by a
 * timeout on a pooled keep-alive connection; and reports a subgraph that cannot be reached as an error
 * that names it, so that the other subgraphs' data still reaches the client.
 */
export class SubgraphDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  constructor(options: SubgraphClientOptions) {
    const { name, timeoutMs, agent, fetchDuration } = options;
    const fetcher = (async (url: string, init: Parameters<typeof undiciFetch>[1]) => {
      const started = performance.now();
      let outcome = 'ok';
      try {
        return await undiciFetch(url, { ...init, dispatcher: agent, signal: AbortSignal.timeout(timeoutMs) });
      } catch (error) {
        outcome = (error as Error).name === 'TimeoutError' ? 'timeout' : 'error';
        throw error;
      } finally {
        fetchDuration.observe({ subgraph: name, outcome }, (performance.now() - started) / 1000);
      }
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
