// One process's LISTEN connection for its subscriptions: each committed change and account change handed to the live subscriptions it concerns.
import type pg from 'pg';
import { z } from 'zod';
import { AppError, ErrorCode, type Logger, type Service } from '@fedstack/runtime';
import type { AccountSnapshot } from '../accounts';
import { NotificationListener } from '../background';
import type { LiveRoute, RowEvent } from './feed';

/** What the hub calls on a live subscription. */
export interface LiveListener {
  /** The subscriber, whose account changes are passed on. */
  readonly userId: string;
  /** A committed change announced on `channel`. */
  event(channel: string, event: RowEvent): void;
  /** The subscriber's account changed here: check them again. */
  accountChanged(): void;
  /** The subscription cannot go on (the hub stopped hearing events): end it with `error`. */
  end(error: AppError): void;
}

/** How often the LISTEN connection is asked whether it is still there: a silently dead one is noticed within twice this. */
const HEARTBEAT_MS = 10_000;

/**
 * Events kept for the subscriptions still starting (20 s of 500 changes a second), shared by them all;
 * past this the longest-starting ones end, having fallen behind.
 */
const STARTING_EVENTS_KEPT = 10_000;

/** An event as heard, on its channel. */
export interface HeardEvent {
  channel: string;
  event: RowEvent;
}

/** A subscription's place in the hub, from `add` until it leaves. */
export interface HubMembership {
  /**
   * The subscription has started, following `channel` (only the events `only` says, when given): the
   * answer is what was heard on `channel` since it was added, to be handled before anything else.
   */
  follow(channel: string, only: LiveRoute | undefined): HeardEvent[];
  leave(): void;
}

const ROW_EVENT = z.object({ id: z.string().min(1), userId: z.string().nullish(), committedAt: z.string().min(1) });

/** Where the hub keeps the subscriptions that take only the events on `channel` with this user or id. */
const routeKey = (channel: string, by: 'user' | 'id', value: string) => `${channel}\u0000${by}\u0000${value}`;

/** An error the client can act on: events may have been missed, so subscribe again (here or elsewhere). */
export function eventsMissed(service: Service, why: string): AppError {
  return new AppError(ErrorCode.SUBGRAPH_UNAVAILABLE, `The ${service} service ${why}; events may have been missed: subscribe again`, {
    serviceName: service,
  });
}

/**
 * Fan-out within one process: every process of a service LISTENs for itself, so each subscription (which
 * lives in exactly one process) hears every event once, whatever the number of replicas. Nothing is
 * shared between processes.
 *
 * No subscription lives while nothing is heard: when the LISTEN connection is lost (or stops answering
 * its heartbeat), every live subscription ends at once with SUBGRAPH_UNAVAILABLE (events may have been
 * missed), and new ones are refused until the connection is back, so a gap never passes unnoticed.
 */
export class LiveHub {
  private readonly listener: NotificationListener;
  private readonly subscriptions = new Set<LiveListener>();
  private readonly byUser = new Map<string, Set<LiveListener>>();
  /**
   * Subscriptions added but not started (their feed not known yet), with where they joined `heard`: the
   * events heard meanwhile, kept once for them all (`heardBase` is how many were dropped from its head).
   * Each kept its own copy of every event before, so that a thousand starting at once made a thousand
   * copies of each, and ended after 1,000 events however long the start took.
   */
  private readonly starting = new Map<LiveListener, number>();
  private heard: HeardEvent[] = [];
  private heardBase = 0;
  /** Started subscriptions handed every event of the channels: those whose feed gives no route. */
  private readonly unrouted = new Set<LiveListener>();
  /** The others, by the events they can take (`routeKey`): an event reaches these by two look-ups. */
  private readonly routed = new Map<string, Set<LiveListener>>();
  /** The accounts of the users with live subscriptions here, by user and sign-in, as looked up (see `account`). */
  private readonly accounts = new Map<string, Map<string, Promise<AccountSnapshot | null>>>();
  private readonly accountChannel: string;

  constructor(
    private readonly options: {
      service: Service;
      /** The service's own connection (as its role). */
      databaseUrl: string;
      /** The channels its subscriptions follow. */
      channels: readonly string[];
      maxBackoffMs: number;
      logger: Logger;
      /** Events kept for the subscriptions still starting; STARTING_EVENTS_KEPT unless given. */
      startingEventsKept?: number;
    },
  ) {
    this.accountChannel = `${options.service}_account_changed`;
    this.listener = new NotificationListener({
      url: options.databaseUrl,
      channels: [...options.channels, this.accountChannel],
      onNotification: (message) => this.dispatch(message),
      onLost: () => this.endAll(eventsMissed(options.service, 'lost its connection to the database')),
      heartbeatMs: HEARTBEAT_MS,
      maxBackoffMs: options.maxBackoffMs,
      logger: options.logger,
    });
  }

  /** Whether events are heard now; a subscription is accepted only then. */
  get listening(): boolean {
    return this.listener.listening;
  }

  /**
   * Why a new subscription is refused now, or undefined: events are not heard, or this process holds
   * `max` already (each costs memory, about 11 kB of heap, and one process can be handed many gateway
   * processes' connections, each within its own limit).
   */
  refusal(max: number): AppError | undefined {
    const { service } = this.options;
    if (!this.listening) return eventsMissed(service, 'is not hearing events at the moment (its database is out of reach)');
    if (this.subscriptions.size < max) return undefined;
    return new AppError(ErrorCode.TOO_MANY_SUBSCRIPTIONS, `This ${service} process holds the most subscriptions it may (${max}): subscribe again shortly`, {
      limit: 'process',
      max,
      serviceName: service,
    });
  }

  /** Whether the hub listens on `channel`. */
  follows(channel: string): boolean {
    return this.options.channels.includes(channel);
  }

  /** Starts listening; resolves once listening, or once the first attempt has failed (it keeps trying). */
  start(): Promise<void> {
    return this.listener.start();
  }

  /**
   * A subscriber's account (`userId`, sign-in `sessionId`) as the service's view has it: looked up once
   * (`lookup`), then the same answer for every event until the view announces a change to that account.
   * Every change to the view notifies the hub's account channel, on the connection the events come on
   * and in commit order with them, so an event committed after a change is checked against the change;
   * and the change itself re-checks every subscription of the user at once (`accountChanged`). A look-up
   * per event for each sign-in was one statement per change for nothing, on the path of every event.
   * Kept while the user has a live subscription here; forgotten with the connection.
   */
  account(userId: string, sessionId: string, lookup: () => Promise<AccountSnapshot | null>): Promise<AccountSnapshot | null> {
    const user = userId.toLowerCase();
    if (!this.byUser.has(user)) return lookup();
    let sessions = this.accounts.get(user);
    if (!sessions) this.accounts.set(user, (sessions = new Map<string, Promise<AccountSnapshot | null>>()));
    const known = sessions.get(sessionId);
    if (known) return known;
    const looked = lookup();
    sessions.set(sessionId, looked);
    // A failed look-up is not kept: the next event asks again.
    looked.catch(() => {
      if (sessions.get(sessionId) === looked) sessions.delete(sessionId);
    });
    return looked;
  }

  /** Stops listening; subscriptions still live end (the server is stopping). */
  async stop(): Promise<void> {
    this.endAll(eventsMissed(this.options.service, 'is stopping'));
    await this.listener.stop();
  }

  /**
   * Hands `subscription` every account change from now on, and, once it has started (`follow`), every
   * event its feed can take, from its adding on; `leave` takes it back.
   */
  add(subscription: LiveListener): HubMembership {
    this.subscriptions.add(subscription);
    this.starting.set(subscription, this.heardBase + this.heard.length);
    let mine = this.byUser.get(subscription.userId);
    if (!mine) this.byUser.set(subscription.userId, (mine = new Set()));
    mine.add(subscription);
    let key: string | undefined;
    return {
      follow: (channel, only) => {
        const joined = this.starting.get(subscription);
        if (joined === undefined) return [];
        this.starting.delete(subscription);
        const missed = this.heard.slice(joined - this.heardBase).filter((heard) => heard.channel === channel);
        this.trimHeard();
        if (only) {
          key = 'userId' in only ? routeKey(channel, 'user', only.userId) : routeKey(channel, 'id', only.id);
          let bucket = this.routed.get(key);
          if (!bucket) this.routed.set(key, (bucket = new Set()));
          bucket.add(subscription);
        } else this.unrouted.add(subscription);
        return missed;
      },
      leave: () => {
        if (!this.subscriptions.delete(subscription)) return;
        if (this.starting.delete(subscription)) this.trimHeard();
        this.unrouted.delete(subscription);
        if (key !== undefined) {
          const bucket = this.routed.get(key);
          bucket?.delete(subscription);
          if (bucket?.size === 0) this.routed.delete(key);
        }
        mine.delete(subscription);
        if (mine.size === 0 && this.byUser.get(subscription.userId) === mine) {
          this.byUser.delete(subscription.userId);
          this.accounts.delete(subscription.userId);
        }
      },
    };
  }

  /** Drops the events heard that no subscription still starting needs. */
  private trimHeard(): void {
    const [oldest] = this.starting.values();
    if (oldest === undefined) {
      this.heardBase += this.heard.length;
      this.heard = [];
      return;
    }
    // Dropped in halves at least, so that a thousand starts do not each move the whole list.
    const unneeded = oldest - this.heardBase;
    if (unneeded > 0 && unneeded * 2 >= this.heard.length) {
      this.heard = this.heard.slice(unneeded);
      this.heardBase = oldest;
    }
  }

  private dispatch(message: pg.Notification): void {
    const payload = message.payload ?? '';
    if (message.channel === this.accountChannel) {
      const user = payload.toLowerCase();
      this.accounts.delete(user);
      for (const subscription of [...(this.byUser.get(user) ?? [])]) subscription.accountChanged();
      return;
    }
    let event: RowEvent;
    try {
      const parsed = ROW_EVENT.parse(JSON.parse(payload));
      event = { id: parsed.id, userId: parsed.userId ?? null, committedAt: new Date(parsed.committedAt).toISOString() };
    } catch (error) {
      this.options.logger.error({ channel: message.channel, payload: payload.slice(0, 200), reason: String(error) }, 'ignored a malformed event notification');
      return;
    }
    if (this.starting.size > 0) this.keepForStarting({ channel: message.channel, event });
    // Copied first: a subscription that ends on an event leaves these sets meanwhile.
    const byUser = event.userId === null ? undefined : this.routed.get(routeKey(message.channel, 'user', event.userId.toLowerCase()));
    const byId = this.routed.get(routeKey(message.channel, 'id', event.id));
    const reached = [...this.unrouted, ...(byUser ?? []), ...(byId ?? [])];
    for (const subscription of reached) subscription.event(message.channel, event);
  }

  /** Keeps an event for the subscriptions still starting; those that joined longest ago end once too much is kept. */
  private keepForStarting(heard: HeardEvent): void {
    this.heard.push(heard);
    const kept = this.options.startingEventsKept ?? STARTING_EVENTS_KEPT;
    if (this.heard.length <= kept) return;
    const limit = this.heardBase + this.heard.length - kept;
    const behind = [...this.starting].filter(([, joined]) => joined < limit).map(([subscription]) => subscription);
    for (const subscription of behind) subscription.end(eventsMissed(this.options.service, 'fell behind while the subscription started'));
    // Any still there (a listener that did not leave when ended) lose their place too.
    for (const subscription of behind) this.starting.delete(subscription);
    this.trimHeard();
  }

  private endAll(error: AppError): void {
    this.accounts.clear();
    for (const subscription of [...this.subscriptions]) subscription.end(error);
  }
}
