// Runs a subscription through the federation: the primary subscribed to at its subgraph, the rest of the plan run for each event.
import { executeQueryPlan, type ServiceMap } from '@apollo/gateway';
import type { GatewayGraphQLRequestContext } from '@apollo/server-gateway-interface';
import { GraphQLError, locatedError, type DocumentNode, type ExecutionResult, type FormattedExecutionResult } from 'graphql';
import { ErrorCode, beginSpan, currentTraceparent, formatErrorFor, inEventSpan, type Logger } from '@fedstack/runtime';
import { withShapingErrors } from '../shaping-errors';
import { propagateHeaders, type GatewayContext } from '../subgraphs/headers';
import { EventDataSource, committedAt, fellBehind, lostEvent, unavailable } from './events';
import type { SubscriptionMetrics } from './metrics';
import type { SubscriptionPlan, SubscriptionPlanner } from './planner';
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
  /** Told once when the subscription ends, however it ends (the transport gives back its place under the limits). */
  release?: () => void;
}

export interface SubscriptionExecutorOptions {
  planner: SubscriptionPlanner;
  upstream: UpstreamSubscriptions;
  /** The gateway's data source for each subgraph, as for queries. */
  dataSources(): ServiceMap;
  metrics: SubscriptionMetrics;
  production: boolean;
  /**
   * Events one subscription may have waiting while the gateway's work on each (the plan's entity fetches)
   * is slower than they come, behind a slow subgraph, say. Past this the subscription ends with an error
   * saying events may have been missed, rather than queueing without bound. (A client that stops reading
   * is the transports' to cut off: each takes results as they come and bounds what waits in its socket.)
   */
  maxQueuedEvents: number;
}

/**
 * The client's headers a subgraph needs, as the gateway sends them with a query, and the active span's
 * `traceparent` (which OpenTelemetry's HTTP instrumentation adds to a query's request, and nothing adds to
 * a WebSocket message): the subgraph's start of the subscription is traced under the gateway's.
 */
function headersOf(context: GatewayContext): Record<string, string> {
  const headers = new Headers();
  propagateHeaders(headers, context);
  const traceparent = currentTraceparent();
  if (traceparent) headers.set('traceparent', traceparent);
  return Object.fromEntries(headers);
}

/** The results of one subscription: an async iterator whose `return()` ends it at once. */
export type SubscriptionResults = AsyncIterableIterator<ExecutionResult> & Required<Pick<AsyncIterator<ExecutionResult>, 'return' | 'throw'>>;

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/** What every subscription of a gateway shares. */
interface Shared {
  options: SubscriptionExecutorOptions;
  masked(errors: readonly GraphQLError[]): GraphQLError[];
}

/**
 * One subscription's results, one per event, until the subgraph ends it, it fails, or the client ends it.
 * A class rather than an async generator: a generator's `return()` waits for the `await` it is suspended
 * at, so a client that unsubscribed (or went away) kept its upstream subscription, its place under the
 * per-user limit and its memory until its next event, which for a settled payment may never come.
 * Anything unexpected is logged and ends it with a masked internal error result, never an exception a
 * transport would put in a protocol message. Its consumer asks for one result at a time, as every
 * transport's `for await` does.
 */
class Subscription implements SubscriptionResults {
  /** Events taken from the subgraph as they come, whatever the client's pace; bounded (maxQueuedEvents). */
  private readonly queue: FormattedExecutionResult[] = [];
  /** Set once nothing more comes from the subgraph, with the last result to give, if any (an error). */
  private ending: { last?: ExecutionResult } | undefined;
  private finished = false;
  private wake: (() => void) | undefined;
  private plan: SubscriptionPlan | undefined;
  private unsubscribe: (() => void) | undefined;
  private stopActive: (() => void) | undefined;
  /** Whether its loss has been counted: a subscription is lost once, whatever else then happens. */
  private lostCounted = false;

  constructor(
    private readonly request: SubscriptionRequest,
    private readonly shared: Shared,
  ) {
    // A span for the start (planned, sent to the subgraph), under the client's HTTP request's over SSE or
    // multipart; the subgraph's own start continues it. Events are traced apart, each from its commit.
    const start = beginSpan('subscription start', request.operationName ? { attributes: { 'graphql.operation.name': request.operationName } } : {});
    try {
      start.run(() => {
        const { options } = shared;
        const plan = options.planner.plan(request.document, request.operationName);
        this.plan = plan;
        this.stopActive = options.metrics.active(plan.field);
        const variables = Object.fromEntries(
          (plan.primary.variableUsages ?? []).filter((name) => name in request.variables).map((name) => [name, request.variables[name]]),
        );
        this.unsubscribe = options.upstream.subscribe(
          { subgraph: plan.primary.serviceName, query: plan.primary.operation, variables, headers: headersOf(request.context) },
          { next: (event) => this.take(event), error: (error) => this.upstreamEnded(error), complete: () => this.upstreamEnded() },
        );
      });
      start.end();
    } catch (error) {
      start.end(error instanceof Error ? error.message : String(error));
      this.failed(error);
    }
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  async next(): Promise<IteratorResult<ExecutionResult>> {
    for (;;) {
      if (this.finished) return DONE;
      const event = this.queue.shift();
      if (event) {
        try {
          const result = await this.execute(event);
          if (this.finished) return DONE;
          if (event.data && !result.data) {
            // The whole event lost to its entity fetches (auth down: `user` is non-null): said, and the
            // subscription ended, so that the client subscribes again and reads what it missed.
            this.queue.length = 0;
            this.ending = {};
            this.stopUpstream();
            this.countLost('event');
            return { done: false, value: { ...result, errors: [...(result.errors ?? []), ...this.shared.masked([lostEvent()])] } };
          }
          // An event, not the refusal or end of rights a subgraph ends a subscription with (errors alone),
          // of which its own end with events missed (it lost its database, or fell behind) is a loss.
          if (event.data) this.shared.options.metrics.delivered((this.plan as SubscriptionPlan).field, committedAt(event));
          else if (event.errors?.some((error) => error.extensions?.code === ErrorCode.SUBGRAPH_UNAVAILABLE)) this.countLost('subgraph');
          return { done: false, value: result };
        } catch (error) {
          this.failed(error);
          continue;
        }
      }
      if (this.ending) {
        const { last } = this.ending;
        this.finish();
        return last ? { done: false, value: last } : DONE;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }

  /** The client ended it (unsubscribed, disconnected): ends it now, upstream too. */
  return(): Promise<IteratorResult<ExecutionResult>> {
    this.finish();
    return Promise.resolve(DONE);
  }

  /** Ends it as `return()` does. graphql-sse calls `return()` only on what also has `throw()`. */
  throw(): Promise<IteratorResult<ExecutionResult>> {
    return this.return();
  }

  private take(event: FormattedExecutionResult): void {
    if (this.ending || this.finished) return;
    this.queue.push(event);
    if (this.queue.length > this.shared.options.maxQueuedEvents) {
      const waiting = this.queue.length;
      this.shared.options.metrics.fellBehind(this.plan?.field ?? 'unknown');
      this.request.context.logger.warn(
        { field: this.plan?.field, queued: waiting },
        'subscription fell behind its events (the work on each slower than they come); ended',
      );
      this.queue.length = 0;
      this.ending = { last: { errors: this.shared.masked([fellBehind(waiting)]) } };
      this.stopUpstream();
    }
    this.wake?.();
  }

  private upstreamEnded(error?: unknown): void {
    if (this.ending || this.finished) return;
    if (error === undefined) {
      this.ending = {};
    } else {
      const subgraph = this.plan?.primary.serviceName ?? 'unknown';
      const { reason, message } = error as { reason?: string; message?: string };
      this.request.context.logger.info({ subgraph, reason: reason ?? message }, 'upstream subscription ended');
      this.countLost('subgraph');
      this.ending = { last: { errors: this.shared.masked([unavailable(subgraph)]) } };
    }
    this.wake?.();
  }

  private failed(error: unknown): void {
    if (this.finished) return;
    this.request.context.logger.error({ err: error }, 'subscription failed');
    this.queue.length = 0;
    this.ending = { last: { errors: this.shared.masked([new GraphQLError('Internal server error', { originalError: error as Error })]) } };
    this.stopUpstream();
  }

  /** Runs the plan for one event: the primary answered by the event, the rest as for a query. */
  private async execute(event: FormattedExecutionResult): Promise<ExecutionResult> {
    const plan = this.plan as SubscriptionPlan;
    const { request } = this;
    const dataSources = this.shared.options.dataSources();
    const serviceMap: ServiceMap = { ...dataSources, [plan.primary.serviceName]: new EventDataSource(event, dataSources[plan.primary.serviceName]) };
    const requestContext = {
      request: { query: undefined, variables: request.variables, operationName: request.operationName },
      context: request.context,
      logger: request.context.logger,
      metrics: {},
    } as unknown as GatewayGraphQLRequestContext;
    // Under the subgraph's span for this event: its entity fetches' spans nest under this one.
    const traceparent = (event.extensions as { traceparent?: unknown } | undefined)?.traceparent;
    const result = await inEventSpan(
      'subscription event',
      { ...(typeof traceparent === 'string' ? { traceparent } : {}), attributes: { 'graphql.subscription.field': plan.field } },
      () => executeQueryPlan({ kind: 'QueryPlan', node: plan.node }, serviceMap, requestContext, plan.operationContext, plan.supergraphSchema, plan.apiSchema),
    );
    const committed = committedAt(event);
    const shaped = withShapingErrors(result);
    const extensions = { ...shaped.extensions };
    // The commit's time travels on, so that a client can tell how fresh an event is.
    if (committed !== undefined) extensions.committedAt = new Date(committed).toISOString();
    return {
      data: shaped.data,
      ...(shaped.errors ? { errors: this.shared.masked(shaped.errors) } : {}),
      ...(Object.keys(extensions).length > 0 ? { extensions } : {}),
    };
  }

  private countLost(reason: 'subgraph' | 'event'): void {
    if (this.lostCounted) return;
    this.lostCounted = true;
    this.shared.options.metrics.lost(this.plan?.field ?? 'unknown', reason);
  }

  /** Ends the subscription at the subgraph, once. */
  private stopUpstream(): void {
    const unsubscribe = this.unsubscribe;
    this.unsubscribe = undefined;
    unsubscribe?.();
  }

  /** Ends it once, however it ends: upstream unsubscribed, counted gone, its place given back. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.queue.length = 0;
    this.stopUpstream();
    this.stopActive?.();
    this.request.release?.();
    this.wake?.();
  }
}

/** Starts subscriptions: each one's results, one per event (see `Subscription`). */
export function subscriptionExecutor(options: SubscriptionExecutorOptions): (request: SubscriptionRequest) => SubscriptionResults {
  const format = formatErrorFor(options.production);
  const shared: Shared = {
    options,
    // Masked as the HTTP endpoint masks them, then errors again, which every transport knows how to send.
    masked: (errors) =>
      errors.map((error) => {
        // executeQueryPlan can give plain errors too (a subgraph's answer it cannot read): made GraphQL errors
        // first, they are masked as any other rather than failing the subscription on `toJSON`.
        const graphQLError = error instanceof GraphQLError ? error : locatedError(error, []);
        const { message, path, extensions } = format(graphQLError.toJSON(), graphQLError);
        return new GraphQLError(message, { ...(path ? { path } : {}), ...(extensions ? { extensions } : {}) });
      }),
  };
  return (request) => new Subscription(request, shared);
}
