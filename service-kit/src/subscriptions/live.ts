// One live subscription: its events resolved in order, its subscriber checked again on each and on every account change, and its end with the reason.
import type { ExecutionResult, GraphQLError } from 'graphql';
import { AppError, ErrorCode, currentTraceparent, inEventSpan, unauthenticated } from '@fedstack/runtime';
import type { RequestAuth, Viewer } from '../tokens';
import type { LiveFeed, RowEvent } from './feed';
import type { HubMembership, LiveHub, LiveListener } from './hub';
import { ResultQueue, type HeldBytes } from './queue';

/** The longest a timer can wait (Node's limit, about 24.8 days); a token that lives longer is checked again then. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface LiveSubscriptionOptions {
  hub: LiveHub;
  /** The subscriber as their access token says. */
  viewer: Viewer;
  /** When that token expires (epoch milliseconds): the subscription ends then, UNAUTHENTICATED. */
  expiresAt: number;
  /** The subscriber's account looked up again and the account policy applied, as for a request. */
  recheck(): Promise<RequestAuth>;
  /** Runs the subscription's document for one event, for the subscriber as they are now; undefined when the event is dropped. */
  execute(event: RowEvent, auth: RequestAuth): Promise<ExecutionResult | undefined>;
  /** The final error, placed at the subscribed field. */
  locate(error: unknown): GraphQLError;
  /** Events and checks waiting, and results unread, beyond which the subscription has fallen behind and ends (the hub bounds what waits for a start). */
  maxBacklog: number;
  /**
   * The largest result of one event, as JSON: past it the subscription ends (OPERATION_TOO_COMPLEX), and
   * past as many bytes of results unread it has fallen behind. A connection carries many subscribers'
   * results: without a bound, one subscription's could hold it up, or the process's memory.
   */
  maxEventBytes: number;
  /** What the subscriptions of its connection hold, past which one of them holding any has fallen behind. */
  connection: HeldBytes;
  maxConnectionBytes: number;
  /** An error the client can act on: events may have been missed (`why`), subscribe again. */
  missed(why: string): AppError;
  /** Told once when the subscription ends, however it ends: with the error it ended with, or undefined when its reader stopped. */
  onEnd(error: unknown): void;
}

/**
 * A subscription is registered with the hub before its subscribe resolver runs (`LiveSubscription` is
 * made first and `start`ed with the feed afterwards), so that nothing committed between the resolver's
 * checks and the first event is missed: events (kept by the hub) and account changes meanwhile are
 * handled once the feed says what it follows.
 *
 * Every event runs the account policy again (a fresh look-up: suspended, erased, signed out, demoted)
 * and the feed's own rule (`authorize`), then the document with a fresh context (fresh loaders, so the
 * row is read as it is now). An account change does the same checks without waiting for an event. A
 * subscriber who may no longer hold the subscription gets one last result with the error, and the end.
 */
export class LiveSubscription implements LiveListener {
  readonly userId: string;
  readonly results: ResultQueue<ExecutionResult>;
  private feed: LiveFeed | undefined;
  /** Whether the account changed before the feed was known (the events meanwhile the hub keeps). */
  private accountChangedEarly = false;
  private recheckQueued = false;
  private work: Promise<void> = Promise.resolve();
  private pending = 0;
  private ended = false;
  private expiry: NodeJS.Timeout | undefined;
  private readonly hub: HubMembership;

  constructor(private readonly options: LiveSubscriptionOptions) {
    this.userId = options.viewer.userId.toLowerCase();
    this.results = new ResultQueue(() => this.close(undefined), options.connection);
    this.hub = options.hub.add(this);
  }

  /** The subscribe resolver has answered: follow `feed`, starting with whatever came meanwhile. */
  start(feed: LiveFeed): void {
    if (this.ended) return;
    this.feed = feed;
    // What was heard since it was added, then (from the hub) only the events its feed can take.
    for (const { channel, event } of this.hub.follow(feed.channel, feed.spec.only)) this.event(channel, event);
    if (this.accountChangedEarly) this.accountChanged();
    this.expireAt(this.options.expiresAt);
  }

  event(channel: string, event: RowEvent): void {
    if (this.ended || !this.feed) return;
    if (channel !== this.feed.channel || !this.feed.spec.accepts(event)) return;
    this.enqueue(() => this.deliver(event));
  }

  accountChanged(): void {
    if (this.ended) return;
    if (!this.feed) {
      this.accountChangedEarly = true;
      return;
    }
    // Checks already waiting will see this change too.
    if (this.recheckQueued) return;
    this.recheckQueued = true;
    this.enqueue(async () => {
      this.recheckQueued = false;
      await this.checked();
    });
  }

  /**
   * Ends with one last result carrying `error` (FORBIDDEN, UNAUTHENTICATED, SUBGRAPH_UNAVAILABLE...),
   * after the errors that say why, if any.
   */
  end(error: unknown, why: readonly GraphQLError[] = []): void {
    if (this.ended) return;
    this.results.push({ data: null, errors: [...why, this.options.locate(error)] });
    this.close(error);
  }

  private close(reason: unknown): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.expiry);
    this.hub.leave();
    this.results.finish();
    this.options.onEnd(reason);
  }

  private expireAt(expiresAt: number): void {
    const wait = expiresAt - Date.now();
    if (wait <= 0) return this.end(unauthenticated('Access token expired: refresh the session, then subscribe again'));
    this.expiry = setTimeout(() => this.expireAt(expiresAt), Math.min(wait, MAX_TIMER_MS));
    this.expiry.unref();
  }

  /**
   * Whether the results it holds unread are past its bounds. The connection's share is taken from those
   * that hold some: the subscriptions whose results it waits on.
   */
  private holdsTooMuch(): boolean {
    const { results, options } = this;
    return results.bytes > options.maxEventBytes || (results.bytes > 0 && results.connection.bytes > options.maxConnectionBytes);
  }

  private fellBehind(): void {
    this.end(this.options.missed('could not send events as fast as they came'));
  }

  /** Runs `step` after the steps before it; a subscription that has fallen too far behind ends instead. */
  private enqueue(step: () => Promise<void>): void {
    if (this.pending + this.results.length >= this.options.maxBacklog || this.holdsTooMuch()) return this.fellBehind();
    this.pending += 1;
    this.work = this.work
      .then(() => (this.ended ? undefined : step()))
      .catch((error: unknown) => this.end(error))
      .finally(() => (this.pending -= 1));
  }

  /** The subscriber as they are now, if they may still hold the subscription; else it has ended, saying why. */
  private async checked(): Promise<RequestAuth | undefined> {
    const auth = await this.options.recheck();
    if (this.ended) return undefined;
    if (auth.error || !auth.viewer) {
      this.end(auth.error ?? unauthenticated());
      return undefined;
    }
    try {
      this.feed?.spec.authorize(auth.viewer);
    } catch (error) {
      this.end(error);
      return undefined;
    }
    return auth;
  }

  private async deliver(event: RowEvent): Promise<void> {
    // One span per event, from its commit: the gateway continues it through its entity fetches.
    await inEventSpan('subscription event', { startTime: Date.parse(event.committedAt), attributes: { 'fedstack.event_id': event.id } }, async () => {
      const auth = await this.checked();
      if (!auth) return;
      const result = await this.options.execute(event, auth);
      if (!result || this.ended) return;
      // The event's own row could not be read (its database out of reach, say): said, and the end, for
      // the client to subscribe again and read what it missed, as the gateway does with an event it loses.
      if (!result.data && result.errors?.length) return this.end(this.options.missed('could not complete an event'), result.errors);
      // Checked again here, not only as the event was queued: a burst is queued before any result is held.
      if (this.holdsTooMuch()) return this.fellBehind();
      const bytes = Buffer.byteLength(JSON.stringify(result));
      if (bytes > this.options.maxEventBytes) {
        const message = `One event's result for this subscription is ${bytes} bytes, over the ${this.options.maxEventBytes} a subscription's event may be: ask for fewer fields or smaller pages`;
        this.end(new AppError(ErrorCode.OPERATION_TOO_COMPLEX, message, { max: this.options.maxEventBytes }));
        return;
      }
      const traceparent = currentTraceparent();
      this.results.push({ ...result, extensions: { ...result.extensions, committedAt: event.committedAt, ...(traceparent ? { traceparent } : {}) } }, bytes);
    });
  }
}
