// What a Subscription field's subscribe resolver returns: the committed changes it follows, and who may keep following them.
import type { Viewer } from '../tokens';

/**
 * A committed change as its NOTIFY announced it (a trigger in the service's migrations): the row's id,
 * its owner where it has one, and when the change was made, as near to its commit as the database can
 * tell. Nothing else: the subscription reads the row as it is now.
 */
export interface RowEvent {
  id: string;
  userId: string | null;
  /** ISO 8601. */
  committedAt: string;
}

/**
 * Thrown by a Subscription field's `resolve` when the row it reads does not bear its event out (the row
 * is not there, or is not one the subscription follows): the event is dropped and logged, not sent. A
 * notification is a hint, never proof of a change: PostgreSQL checks no privilege for NOTIFY, so any role
 * of the database (another service's, in the shared layout) can send one on any channel, naming any row
 * and any owner.
 */
export class UnconfirmedEvent extends Error {
  override name = 'UnconfirmedEvent';
}

/**
 * What every event a subscription can accept carries: the hub then hands it those events alone (a map
 * look-up per event) instead of asking it about every event on the channel, which with thousands of
 * subscriptions was most of a process's work per event.
 */
export type LiveRoute = { userId: string } | { id: string };

/** What a subscription follows and who may hold it, as its subscribe resolver says at subscribe time. */
export interface LiveSpec {
  /** Whether an event on the channel concerns this subscription (its user's rows, one row...). */
  accepts(event: RowEvent): boolean;
  /**
   * When every event `accepts` takes has this `userId` (lower-case) or this `id`: the events the hub
   * hands it; `accepts` still decides. Without, it is asked about every event on its channel.
   */
  only?: LiveRoute;
  /**
   * Throws (FORBIDDEN, UNAUTHENTICATED) when the subscriber, as their account stands now, may no longer
   * hold the subscription: checked on every event and whenever their account changes, after the account
   * policy (a suspended, erased or signed-out subscriber never gets this far).
   */
  authorize(viewer: Viewer): void;
}

/**
 * A subscribe resolver's answer: graphql-js wants an async iterable, but the events are the subgraph's
 * WebSocket server's to deliver (in order, each resolved with a fresh context after the subscriber is
 * checked again), so this one only says what to follow.
 */
export class LiveFeed implements AsyncIterable<never> {
  constructor(
    /** The NOTIFY channel the events come on (payments_payment_changed...). */
    readonly channel: string,
    readonly spec: LiveSpec,
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<never> {
    throw new Error(`The events of ${this.channel} are delivered by the subgraph's WebSocket server; a live feed is not read directly`);
  }
}

/**
 * For a Subscription field's `subscribe`: the changes announced on `channel` that `accepts` takes (every
 * one by default), for as long as `authorize` lets the subscriber hold them (and the account policy).
 * The field's `resolve` is given each event (a RowEvent) and a fresh context, and reads the row; it
 * throws UnconfirmedEvent for an event the row does not bear out.
 */
export function liveEvents(channel: string, spec: Partial<LiveSpec> = {}): LiveFeed {
  return new LiveFeed(channel, {
    accepts: spec.accepts ?? (() => true),
    authorize: spec.authorize ?? (() => undefined),
    ...(spec.only ? { only: spec.only } : {}),
  });
}
