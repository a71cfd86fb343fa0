// One event of a subgraph's subscription at the gateway: the primary's answer it gives, when its change committed, and the errors that end a subscription.
import type { GraphQLDataSource } from '@apollo/gateway';
import { GraphQLError, type FormattedExecutionResult, type GraphQLFormattedError } from 'graphql';
import { ErrorCode } from '@fedstack/runtime';

/** Answers a fetch with what it was given: the primary's answer is the event itself. */
export class EventDataSource implements GraphQLDataSource {
  private answered = false;

  constructor(
    private readonly event: FormattedExecutionResult,
    private readonly subgraph: GraphQLDataSource | undefined,
  ) {}

  /**
   * The plan's first fetch from the subscription's subgraph is the primary (the plan runs it first): the
   * event answers it. A later one (payments, then admin, then payments again) is a query like any other,
   * for the subgraph itself: answered with the event too, it failed the subscription.
   */
  process(options: Parameters<GraphQLDataSource['process']>[0]): ReturnType<GraphQLDataSource['process']> {
    if (this.answered && this.subgraph) return this.subgraph.process(options);
    this.answered = true;
    const { data, errors } = this.event;
    return Promise.resolve({ ...(data ? { data } : {}), ...(errors ? { errors: errors as GraphQLFormattedError[] } : {}) });
  }
}

/** The end of a subscription that fell behind its events: the client may have missed some, and can subscribe again. */
export function fellBehind(waiting: number): GraphQLError {
  return new GraphQLError(`The subscription fell behind its events (${waiting} waiting); events may have been missed: subscribe again`, {
    extensions: { code: ErrorCode.SUBGRAPH_UNAVAILABLE },
  });
}

export function unavailable(subgraph: string): GraphQLError {
  return new GraphQLError(`The ${subgraph} subgraph ended the subscription (it restarted or could not be reached): subscribe again`, {
    extensions: { code: ErrorCode.SUBGRAPH_UNAVAILABLE, serviceName: subgraph },
  });
}

/** When the subgraph says its event's change committed (extensions.committedAt), as epoch milliseconds. */
export function committedAt(event: FormattedExecutionResult): number | undefined {
  const stamp = (event.extensions as { committedAt?: unknown } | undefined)?.committedAt;
  const time = typeof stamp === 'string' ? Date.parse(stamp) : NaN;
  return Number.isNaN(time) ? undefined : time;
}

/** The end of a subscription one of whose events could not be completed (the rest of its plan failed): the client missed it. */
export function lostEvent(): GraphQLError {
  return new GraphQLError('An event could not be completed (the errors before say why) and was missed: subscribe again', {
    extensions: { code: ErrorCode.SUBGRAPH_UNAVAILABLE },
  });
}

/** The end of every subscription on a stream of a gateway that is stopping: another replica, or this one back, takes it again. */
export function gatewayStopping(): GraphQLError {
  return new GraphQLError('The gateway is stopping: subscribe again', { extensions: { code: ErrorCode.SUBGRAPH_UNAVAILABLE } });
}
