// How the gateway calls one subgraph: through its link (pooled transport, circuit breaker, and, when
// switched on, identical queries in flight shared), with the caller's identity passed on, and with every failure
// turned into an error that names the subgraph, so that the other subgraphs' data still reaches the client.
import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { Fetcher, FetcherResponse } from '@apollo/utils.fetcher';
import { GraphQLError } from 'graphql';
import { ErrorCode, GATEWAY_ASSERTION_HEADER, WAL_POSITIONS_HEADER, WalPositions, WalPositionsError, refusesAssertion } from '@fedstack/runtime';
import { isOpenCircuit } from './breaker';
import { isTooLongAnswer } from './transport';
import { propagateHeaders, type GatewayContext } from './headers';

export interface SubgraphDataSourceOptions {
  name: string;
  url: string;
  /** The time one call may take (for the message when it does not answer in time). */
  timeoutMs: number;
  /**
   * The subgraph's link, kept for the process across supergraph reloads: its transport (one pool of
   * connections, a timeout) behind its circuit breaker; with DEDUPLICATE_QUERIES, shared by identical queries (dedupe.ts).
   */
  fetcher: Fetcher;
  /** The gateway's assertion for this subgraph (runtime's gateway-assertion), current at each call. */
  assertion: () => Promise<string>;
  /** Told why a call got no answer (the client is told only that the subgraph could not be reached). */
  onFailure?: (error: Error, requestId: string | undefined) => void;
}

/** What Apollo Gateway gives `didReceiveResponse`: a subgraph's parsed answer with its HTTP side, and the request's context. */
type Received = Parameters<NonNullable<RemoteGraphQLDataSource<GatewayContext>['didReceiveResponse']>>[0];

export class SubgraphDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  private readonly subgraph: string;
  private readonly timeoutMs: number;
  private readonly assertion: () => Promise<string>;
  private readonly onFailure: SubgraphDataSourceOptions['onFailure'];

  constructor({ name, url, timeoutMs, fetcher, assertion, onFailure }: SubgraphDataSourceOptions) {
    super({ url, fetcher });
    this.subgraph = name;
    this.timeoutMs = timeoutMs;
    this.assertion = assertion;
    this.onFailure = onFailure;
  }

  override async willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<GatewayContext>): Promise<void> {
    if (!request.http) return;
    if (context) propagateHeaders(request.http.headers, context, this.subgraph);
    request.http.headers.set(GATEWAY_ASSERTION_HEADER, await this.assertion());
  }

  /** Keeps the positions a subgraph's writes reached, for the calls after it and for the client. */
  override didReceiveResponse({ response, context }: Received): Received['response'] {
    // An answer of neither (`{}`) would leave the subgraph's fields null, as though it had nothing to say.
    if (response.data === undefined && response.errors === undefined) throw this.unavailable('answered neither data nor errors');
    const written = response.http?.headers.get(WAL_POSITIONS_HEADER);
    try {
      // A context made without positions (a subscription's, a query over WebSocket) still carries them from one call to the next.
      if (written) (context.positions ??= new WalPositions()).merge(written);
    } catch (error) {
      // Not positions: not from one of our subgraphs. Its answer stands; the client's next reads may be stale.
      if (!(error instanceof WalPositionsError)) throw error;
    }
    return response;
  }

  /**
   * A subgraph's own GraphQL errors (a 400 for a bad variable, say) are passed on as it wrote them; but
   * its refusal of this gateway's assertion, UNAUTHENTICATED to a client calling it directly, is the
   * gateway's key unknown there: clients told UNAUTHENTICATED signed their users out.
   */
  override async errorFromResponse(response: FetcherResponse): Promise<GraphQLError> {
    const body = (await this.parseBody(response)) as { errors?: { message: string; extensions?: Record<string, unknown> }[] } | string;
    const first = typeof body === 'object' ? body.errors?.[0] : undefined;
    if (refusesAssertion(body)) {
      return this.unavailable(
        `refused this gateway's assertion: its GATEWAY_PUBLIC_KEY does not hold this gateway's key (docs/operations.md, "Rotating keys")`,
      );
    }
    if (first?.message) return new GraphQLError(first.message, { extensions: { ...first.extensions, serviceName: this.subgraph } });
    return this.unavailable(`answered HTTP ${response.status}`);
  }

  override didEncounterError(error: Error, _fetchRequest: unknown, _fetchResponse?: FetcherResponse, context?: GatewayContext): never {
    if (error instanceof GraphQLError) throw error;
    // Refused by the breaker, whose opening was logged: nothing more to say of each refusal.
    if (isOpenCircuit(error)) throw this.unavailable('is failing and is not being called for a few seconds (circuit open)');
    // Shared by the requests a deduplicated call served, which each report it: the log's limit keeps that to one line.
    this.onFailure?.(error, context?.requestId);
    const why =
      error.name === 'TimeoutError'
        ? `did not answer within ${this.timeoutMs} ms`
        : isTooLongAnswer(error)
          ? 'answered more than SUBGRAPH_MAX_RESPONSE_BYTES'
          : 'could not be reached';
    throw this.unavailable(why, error);
  }

  /** SUBGRAPH_UNAVAILABLE naming the subgraph, with the error behind it (if any) as its original, for whoever formats or logs it. */
  private unavailable(reason: string, cause?: Error): GraphQLError {
    return new GraphQLError(`The ${this.subgraph} subgraph ${reason}`, {
      ...(cause ? { originalError: cause } : {}),
      extensions: { code: ErrorCode.SUBGRAPH_UNAVAILABLE, serviceName: this.subgraph },
    });
  }
}
