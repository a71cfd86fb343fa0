import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { Counter, Gauge } from 'prom-client';
import type { Service, Logger, ServiceMetrics } from '@fedstack/runtime';
import type { InternalClient } from './internal';

/**
 * The transactional outbox (docs/adr/0007-outbox.md). A service that must tell others about a change
 * writes the event into its own `outbox` table inside the transaction that makes the change: both commit
 * or neither does. A relay in every process of that service delivers due rows to their destination's
 * internal API and deletes each once acknowledged; a failed delivery is retried with capped exponential
 * backoff, so a destination that was down gets every event once it is back. Receivers apply events
 * idempotently (by event id or version), so a delivery repeated after a crash does no harm.
 */

/** A connection error in one line (pg's errors carry the whole client, which has no place in a log). */
function brief(error: unknown): string {
  const { message, code } = error as { message?: string; code?: string };
  return code ? `${message ?? String(error)} (${code})` : (message ?? String(error));
}

/** Anything that can run a statement inside the caller's transaction (a Prisma transaction client). */
export interface RawExecutor {
  $executeRawUnsafe(query: string, ...values: unknown[]): Promise<number>;
}

export interface OutgoingEvent {
  topic: string;
  payload: unknown;
  destinations: readonly Service[];
}

/** Writes an event for each destination, inside the caller's transaction; returns the event's id. */
export async function enqueue(tx: RawExecutor, service: Service, event: OutgoingEvent, eventId: string = randomUUID()): Promise<string> {
  await tx.$executeRawUnsafe(
    `INSERT INTO "${service}".outbox (event_id, destination, topic, payload) SELECT $1::uuid, d, $2, $3::jsonb FROM unnest($4::text[]) AS d`,
    eventId,
    event.topic,
    JSON.stringify(event.payload),
    [...event.destinations],
  );
  return eventId;
}

interface OutboxRow {
  id: string;
  event_id: string;
  destination: Service;
  topic: string;
  payload: unknown;
  created_at: Date;
  attempts: number;
}

export interface RelayOptions {
  service: Service;
  /** The service's own connection (as its role), for the relay's pool and its LISTEN connection. */
  databaseUrl: string;
  client: InternalClient;
  logger: Logger;
  metrics: ServiceMetrics;
  /** How often due rows are looked for without a notification (retries, other processes' rows). */
  pollMs: number;
  /** The longest wait between two attempts at one event. */
  maxBackoffMs: number;
  /**
   * How long a claimed row is left alone by other relays while this one delivers it: longer than one
   * delivery may take, short enough that a relay that died mid-delivery holds nothing up for long.
   */
  claimMs: number;
}

/** Deliveries under way at once in one process, in all and to one destination (so that a hung one cannot hold up the rest). */
const MAX_IN_FLIGHT = 64;
const MAX_IN_FLIGHT_PER_DESTINATION = 16;

/** The wait before attempt n + 1 of something that failed n times: doubling from 250 ms, capped. */
export function backoffMs(failures: number, maxMs: number): number {
  return Math.min(maxMs, 250 * 2 ** Math.min(Math.max(failures - 1, 0), 20));
}

/** Delivers one service's outbox. Start it once per process; stop it on shutdown. */
export class OutboxRelay {
  private readonly pool: pg.Pool;
  private listener: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private draining: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private readonly inFlight = new Map<Service, number>();
  private readonly deliveries = new Set<Promise<void>>();
  private readonly outcomes: Counter<'destination' | 'outcome'>;

  constructor(private readonly options: RelayOptions) {
    this.pool = new pg.Pool({ connectionString: options.databaseUrl, max: 4 });
    // An idle connection the server ends (a restart, a failover) must not end the process: the next
    // pass opens another.
    this.pool.on('error', (error) => options.logger.warn({ reason: brief(error) }, 'outbox relay lost an idle connection'));
    this.outcomes = new Counter({
      name: 'outbox_deliveries_total',
      help: 'Outbox events handed to another service, by destination and outcome (delivered, retry, refused)',
      labelNames: ['destination', 'outcome'] as const,
      registers: [options.metrics.registry],
    });
    const pool = this.pool;
    const schema = `"${options.service}"`;
    new Gauge({
      name: 'outbox_events',
      help: 'Outbox events not yet delivered: pending (will be retried) or parked (refused by the destination; see last_error)',
      labelNames: ['state'] as const,
      registers: [options.metrics.registry],
      // Counted when scraped, not kept up to date: no cost between scrapes.
      async collect() {
        const { rows } = await pool.query<{ pending: number; parked: number }>(
          `SELECT count(*) FILTER (WHERE next_attempt_at <> 'infinity')::int AS pending, count(*) FILTER (WHERE next_attempt_at = 'infinity')::int AS parked
           FROM ${schema}.outbox`,
        );
        this.set({ state: 'pending' }, rows[0]?.pending ?? 0);
        this.set({ state: 'parked' }, rows[0]?.parked ?? 0);
      },
    });
  }

  /** Starts listening for new events and polling for due ones. */
  async start(): Promise<void> {
    await this.listen();
    this.timer = setInterval(() => this.kick(), this.options.pollMs);
    this.timer.unref();
    this.kick();
  }

  /** Looks for due events now (and again when the current pass ends, if one is running). */
  kick(): void {
    if (this.stopped) return;
    if (this.draining) {
      this.again = true;
      return;
    }
    this.draining = this.claimAndDeliver()
      .catch((error: unknown) => this.options.logger.warn({ reason: brief(error) }, 'outbox relay pass failed; retrying at the next poll'))
      .finally(() => {
        this.draining = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Waits until no pass and no delivery is under way (tests, and the end of a graceful stop). */
  async settle(): Promise<void> {
    while (this.draining || this.deliveries.size > 0) await Promise.all([this.draining, ...this.deliveries]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.settle();
    await this.listener?.end().catch(() => undefined);
    await this.pool.end();
  }

  /** LISTEN on the service's channel, which the outbox table's trigger notifies at every commit that adds rows. */
  private async listen(): Promise<void> {
    if (this.stopped) return;
    const listener = new pg.Client({ connectionString: this.options.databaseUrl });
    listener.on('notification', () => this.kick());
    listener.on('error', (error) => {
      this.options.logger.warn({ reason: brief(error) }, 'outbox listener lost its connection; polling until it is back');
      listener.end().catch(() => undefined);
      setTimeout(() => void this.listen().catch(() => undefined), this.options.pollMs).unref();
    });
    try {
      await listener.connect();
      await listener.query(`LISTEN ${this.options.service}_outbox`);
      this.listener = listener;
    } catch (error) {
      await listener.end().catch(() => undefined);
      if (this.stopped) return;
      this.options.logger.warn({ reason: brief(error) }, 'outbox listener could not connect; polling until it can');
      setTimeout(() => void this.listen().catch(() => undefined), this.options.pollMs).unref();
    }
  }

  /**
   * Claims due rows while there is room, and starts delivering each without waiting for the others: a
   * destination that hangs holds at most its own share of the room, and only until the call times out.
   * A claim pushes the row's next attempt past the time a delivery may take, so that another process
   * leaves it alone; if this one dies mid-delivery, the row is due again once that time has passed.
   */
  private async claimAndDeliver(): Promise<void> {
    const schema = `"${this.options.service}"`;
    for (;;) {
      const room = MAX_IN_FLIGHT - this.deliveries.size;
      if (room <= 0 || this.stopped) return;
      const perDestination = Object.fromEntries([...this.inFlight].map(([destination, count]) => [destination, MAX_IN_FLIGHT_PER_DESTINATION - count]));
      // Rows are picked with a window (no locks allowed there), then claimed by an UPDATE that checks
      // again that each is still due: a row another process claimed meanwhile is skipped.
      const { rows } = await this.pool.query<OutboxRow>(
        `UPDATE ${schema}.outbox SET next_attempt_at = now() + $3 * interval '1 millisecond', attempts = attempts + 1
         WHERE next_attempt_at <= now() AND id IN (
           SELECT id FROM (
             SELECT id, next_attempt_at, created_at,
                    row_number() OVER (PARTITION BY destination ORDER BY next_attempt_at, created_at) AS place,
                    coalesce(($1::jsonb ->> destination)::int, ${MAX_IN_FLIGHT_PER_DESTINATION}) AS room
             FROM ${schema}.outbox WHERE next_attempt_at <= now()) due
           WHERE place <= room ORDER BY next_attempt_at, created_at LIMIT $2)
         RETURNING id, event_id, destination, topic, payload, created_at, attempts`,
        [JSON.stringify(perDestination), room, Math.ceil(this.options.claimMs)],
      );
      if (rows.length === 0) return;
      for (const row of rows) {
        this.inFlight.set(row.destination, (this.inFlight.get(row.destination) ?? 0) + 1);
        const delivery: Promise<void> = this.deliver(row).finally(() => {
          this.inFlight.set(row.destination, (this.inFlight.get(row.destination) ?? 1) - 1);
          this.deliveries.delete(delivery);
          this.kick();
        });
        this.deliveries.add(delivery);
      }
    }
  }

  private async deliver(row: OutboxRow): Promise<void> {
    const schema = `"${this.options.service}"`;
    const { client, logger } = this.options;
    try {
      await client.deliver(row.destination, { eventId: row.event_id, topic: row.topic, payload: row.payload, createdAt: row.created_at });
      await this.pool.query(`DELETE FROM ${schema}.outbox WHERE id = $1`, [row.id]);
      this.outcomes.inc({ destination: row.destination, outcome: 'delivered' });
    } catch (error) {
      const retryable = (error as { retryable?: boolean }).retryable !== false;
      const delayMs = backoffMs(row.attempts, this.options.maxBackoffMs);
      // A refusal (400 bad input, 403 not allowed) will not change by asking again: the event is parked,
      // visible, for an operator.
      await this.pool.query(
        `UPDATE ${schema}.outbox SET next_attempt_at = ${retryable ? `now() + $2 * interval '1 millisecond'` : `'infinity'`}, last_error = $3 WHERE id = $1`,
        [row.id, delayMs, (error as Error).message.slice(0, 1000)],
      );
      this.outcomes.inc({ destination: row.destination, outcome: retryable ? 'retry' : 'refused' });
      const details = { eventId: row.event_id, topic: row.topic, destination: row.destination, attempts: row.attempts, err: error };
      if (!retryable) logger.error(details, 'event refused by its destination; parked in the outbox');
      else if (row.attempts >= 5) logger.warn({ ...details, retryInMs: delayMs }, 'event still undelivered');
    }
  }
}
