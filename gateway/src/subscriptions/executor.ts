// Runs a subscription through the federation: the primary subscribed to at its subgraph, the rest of the plan run for each event.
import { executeQueryPlan, type GraphQLDataSource, type ServiceMap } from '@apollo/gateway';
import type { GatewayGraphQLRequestContext } from '@apollo/server-gateway-interface';
import { GraphQLError, Kind, type DocumentNode, type ExecutionResult, type FormattedExecutionResult, type GraphQLFormattedError } from 'graphql';
import { ErrorCode, formatErrorFor, inEventSpan, type Logger } from '@fedstack/runtime';
import { propagateHeaders, type GatewayContext } from '../subgraphs/headers';
import type { SubscriptionMetrics } from './metrics';
import type { SubscriptionPlanner } from './planner';
import type { UpstreamSubscriptions } from './upstream';

/**
 * For each client subscription: its plan's primary fetch becomes a subscription at the subgraph that owns
 * the root field (payments for `paymentUpdated`), with the client's own headers; each event that subgraph
 * sends is the primary's answer, and `@apollo/gateway`'s own `executeQueryPlan` runs the plan from there
 * (the primary answered by the event, then the rest: entity fetches batched, headers propagated, results
 * shaped and errors masked exactly as for a query). Events are delivered in order, one at a time.
 */
export interface SubscriptionRequest {
  document: DocumentNode;
  operationName: string | undefined;
  variables: Record<string, unknown>;
  context: GatewayContext & { logger: Logger };
}

export interface SubscriptionExecutorOptions {
  planner: SubscriptionPlanner;
  upstream: UpstreamSubscriptions;
  /** The gateway's data source for each subgraph, as for queries. */
  dataSources(): ServiceMap;
  metrics: SubscriptionMetrics;
  production: boolean;
  /**
   * Events one subscription may have waiting for its client: a transport that waits for each write to
   * reach the network (SSE) stops taking events from a client that stopped reading, and past this the
   * subscription is ended rather than queueing without bound.
   */
  maxQueuedEvents: number;
}

/** Answers a fetch with what it was given: the primary's answer is the event itself. */
class EventDataSource implements GraphQLDataSource {
  constructor(private readonly event: FormattedExecutionResult) {}

  process() {
    const { data, errors } = this.event;
    return Promise.resolve({ ...(data ? { data } : {}), ...(errors ? { errors: errors as GraphQLFormattedError[] } : {}) });
  }
}

/** The client's headers a subgraph needs, as the gateway sends them with a query. */
function headersOf(context: GatewayContext): Record<string, string> {
  const headers = new Headers();
  propagateHeaders(headers, context);
  return Object.fromEntries(headers);
}

function unavailable(subgraph: string): GraphQLError {
  return new GraphQLError(`The ${subgraph} subgraph ended the subscription (it restarted or could not be reached): subscribe again`, {
    extensions: { code: ErrorCode.SUBGRAPH_UNAVAILABLE, serviceName: subgraph },
  });
}

/** When the subgraph says its event's change committed (extensions.committedAt), as epoch milliseconds. */
function committedAt(event: FormattedExecutionResult): number | undefined {
  const stamp = (event.extensions as { committedAt?: unknown } | undefined)?.committedAt;
  const time = typeof stamp === 'string' ? Date.parse(stamp) : NaN;
  return Number.isNaN(time) ? undefined : time;
}

/** A subscription's results, one per event, until the subgraph ends it, it fails, or the client stops reading. */
export function subscriptionExecutor(options: SubscriptionExecutorOptions) {
  const format = formatErrorFor(options.production);
  // Masked as the HTTP endpoint masks them, then errors again, which every transport knows how to send.
  const masked = (errors: readonly GraphQLError[]): GraphQLError[] =>
    errors.map((error) => {
      const { message, path, extensions } = format(error.toJSON(), error);
      return new GraphQLError(message, { ...(path ? { path } : {}), ...(extensions ? { extensions } : {}) });
    });

  /**
   * A subscription's results; anything unexpected is logged and ends it with a masked internal error
   * result, never an exception a transport would put in a protocol message.
   */
  return async function* subscribe(request: SubscriptionRequest): AsyncGenerator<ExecutionResult> {
    try {
      yield* run(request);
    } catch (error) {
      request.context.logger.error({ err: error }, 'subscription failed');
      const internal = new GraphQLError('Internal server error', { originalError: error as Error });
      yield { errors: masked([internal]) };
    }
  };

  async function* run(request: SubscriptionRequest): AsyncGenerator<ExecutionResult> {
    const plan = options.planner.plan(request.document, request.operationName);
    const { primary, rest } = plan;
    const field = plan.operationContext.operation.selectionSet.selections.find((selection) => selection.kind === Kind.FIELD)?.name.value ?? 'unknown';
    const variables = Object.fromEntries(
      (primary.variableUsages ?? []).filter((name) => name in request.variables).map((name) => [name, request.variables[name]]),
    );
    const events = options.upstream.subscribe({ subgraph: primary.serviceName, query: primary.operation, variables, headers: headersOf(request.context) });
    const requestContext = {
      request: { query: undefined, variables: request.variables, operationName: request.operationName },
      context: request.context,
      logger: request.context.logger,
      metrics: {},
    } as unknown as GatewayGraphQLRequestContext;
    const node = rest ? { kind: 'Sequence' as const, nodes: [primary, rest] } : primary;
    const stopActive = options.metrics.active(field);
    // Events are taken from the subgraph as they come, into a bounded queue, whatever the client's pace.
    const queue: FormattedExecutionResult[] = [];
    let wake: (() => void) | undefined;
    let ended: { error?: unknown; overflow?: boolean } | undefined;
    const pump = (async () => {
      try {
        for await (const event of events) {
          queue.push(event);
          if (queue.length > options.maxQueuedEvents) {
            ended = { overflow: true };
            break;
          }
          wake?.();
        }
        ended ??= {};
      } catch (error) {
        ended = { error };
      } finally {
        wake?.();
      }
    })();
    try {
      for (;;) {
        const event = ended?.overflow ? undefined : queue.shift();
        if (!event) {
          if (ended?.overflow) {
            options.metrics.slowConsumerDropped('queue');
            request.context.logger.warn({ field, queued: queue.length }, 'subscriber not reading its events; subscription ended');
            return;
          }
          if (ended?.error !== undefined) {
            const { reason, message } = ended.error as { reason?: string; message?: string };
            request.context.logger.info({ subgraph: primary.serviceName, reason: reason ?? message }, 'upstream subscription ended');
            yield { errors: masked([unavailable(primary.serviceName)]) };
            return;
          }
          if (ended) return;
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
          continue;
        }
        const serviceMap: ServiceMap = { ...options.dataSources(), [primary.serviceName]: new EventDataSource(event) };
        // Under the subgraph's span for this event: its entity fetches' spans nest under this one.
        const traceparent = (event.extensions as { traceparent?: unknown } | undefined)?.traceparent;
        const result = await inEventSpan(
          'subscription event',
          { ...(typeof traceparent === 'string' ? { traceparent } : {}), attributes: { 'graphql.subscription.field': field } },
          () => executeQueryPlan({ kind: 'QueryPlan', node }, serviceMap, requestContext, plan.operationContext, plan.supergraphSchema, plan.apiSchema),
        );
        const committed = committedAt(event);
        options.metrics.delivered(field, committed);
        // The commit's time travels on, so that a client can tell how fresh an event is.
        yield {
          ...result,
          ...(result.errors ? { errors: masked(result.errors) } : {}),
          ...(committed === undefined ? {} : { extensions: { ...result.extensions, committedAt: new Date(committed).toISOString() } }),
        };
      }
    } finally {
      stopActive();
      await events.return?.();
      await pump;
    }
  }
}
