// The transactional outbox: events written in the transaction that makes a change, delivered to other services after it commits.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { Counter } from 'prom-client';
import { SERVICES, type Service, type Logger, type ServiceMetrics } from '@fedstack/runtime';
import { boundedPool } from '@fedstack/shared-db';
import { NotificationListener, ReadinessWatch, WorkQueue, brief, type JobStore } from './background';
import type { InternalClient } from './internal-api';

/**
 * docs/adr/0007-outbox.md. A service that must tell others about a change writes the event into its own
 * `outbox` table inside the transaction that makes the change: both commit or neither does. A relay in
 * every process of that service delivers due rows to their destination's internal API and deletes each
 * once acknowledged, on the background work queue (background/work-queue.ts): a failed delivery is retried
 * with capped exponential backoff, so a destination that was down gets every event once it is back, and
 * an event refused outright, or failing past OUTBOX_MAX_ATTEMPTS, is parked for an operator. Receivers
 * apply events idempotently (by event id or version), so a delivery repeated after a crash does no harm.
 */

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
  /** Attempts after which an event still undelivered is parked. */
  maxAttempts: number;
  /**
   * How long a claimed row is left alone by other relays while this one delivers it: longer than one
   * delivery may take, short enough that a relay that died mid-delivery holds nothing up for long.
   */
  claimMs: number;
  /** DB_POOL_TIMEOUT_MS: how long the relay's statements wait for a connection, and how often its LISTEN connection is asked whether it is there. */
  poolTimeoutMs: number;
}

/** Deliveries under way at once in one process, in all and to one destination (so that a hung one cannot hold up the rest). */
const MAX_IN_FLIGHT = 64;
const MAX_IN_FLIGHT_PER_DESTINATION = 16;

/** The outbox table as the work queue sees it. */
function outboxStore(pool: pg.Pool, service: Service, claimMs: number): JobStore<OutboxRow> & { hurry(destination: Service): Promise<void> } {
  const schema = `"${service}"`;
  return {
    // Each destination's due rows are taken in index order, as many as it has room for, skipping rows
    // another process has locked; the claim pushes each row's next attempt past the time a delivery may
    // take, so that another process leaves it alone meanwhile, and clears its last error until this
    // attempt has one, so that only rows waiting out a backoff have one (those a destination back up hurries).
    async claim(room, inHand) {
      const rooms: Partial<Record<Service, number>> = {};
      for (const destination of SERVICES) {
        const free = MAX_IN_FLIGHT_PER_DESTINATION - inHand.filter((row) => row.destination === destination).length;
        if (free > 0) rooms[destination] = free;
      }
      const { rows } = await pool.query<OutboxRow>(
        `UPDATE ${schema}.outbox SET next_attempt_at = now() + $3 * interval '1 millisecond', attempts = attempts + 1, last_error = NULL
         WHERE id = ANY (ARRAY(
           SELECT picked.id FROM jsonb_each_text($1::jsonb) AS room(destination, free)
           CROSS JOIN LATERAL (
             SELECT o.id FROM ${schema}.outbox o WHERE o.destination = room.destination AND o.next_attempt_at <= now()
             ORDER BY o.next_attempt_at LIMIT room.free::int FOR UPDATE SKIP LOCKED) picked
           LIMIT $2))
         RETURNING id, event_id, destination, topic, payload, created_at, attempts`,
        [JSON.stringify(rooms), room, Math.ceil(claimMs)],
      );
      return rows;
    },
    async complete(row) {
      await pool.query(`DELETE FROM ${schema}.outbox WHERE id = $1`, [row.id]);
    },
    async retry(row, delayMs, reason) {
      await pool.query(`UPDATE ${schema}.outbox SET next_attempt_at = now() + $2 * interval '1 millisecond', last_error = $3 WHERE id = $1`, [
        row.id,
        delayMs,
        reason,
      ]);
    },
    async park(row, reason) {
      await pool.query(`UPDATE ${schema}.outbox SET next_attempt_at = 'infinity', last_error = $2 WHERE id = $1`, [row.id, reason]);
    },
    async count() {
      const { rows } = await pool.query<{ pending: number; parked: number }>(
        `SELECT count(*) FILTER (WHERE next_attempt_at <> 'infinity')::int AS pending, count(*) FILTER (WHERE next_attempt_at = 'infinity')::int AS parked
         FROM ${schema}.outbox`,
      );
      return rows[0] ?? { pending: 0, parked: 0 };
    },
    /** Makes due now a destination's events that wait out a backoff (those with an error: not claimed, not parked). */
    async hurry(destination) {
      await pool.query(
        `UPDATE ${schema}.outbox SET next_attempt_at = now()
         WHERE destination = $1 AND last_error IS NOT NULL AND next_attempt_at > now() AND next_attempt_at <> 'infinity'`,
        [destination],
      );
    },
  };
}

/**
 * Delivers one service's outbox. Start it once per process; stop it on shutdown. It LISTENs on the
 * service's channel, which the outbox table's trigger notifies at every commit that adds rows, and polls
 * besides (retries, other processes' rows, and whenever the listening connection is away).
 */
export class OutboxRelay {
  private readonly pool: pg.Pool;
  private readonly store: ReturnType<typeof outboxStore>;
  private readonly queue: WorkQueue<OutboxRow>;
  private readonly listener: NotificationListener;
  /** Destinations a delivery could not reach, asked whether they are ready again: their events are then due at once. */
  private readonly back: ReadinessWatch;

  constructor(options: RelayOptions) {
    const { service, client, logger } = options;
    // Bounded as the service's own pool.
    this.pool = new pg.Pool({ connectionString: options.databaseUrl, max: 4, ...boundedPool(options.poolTimeoutMs) });
    // An idle connection the server ends (a restart, a failover) must not end the process: the next pass opens another.
    this.pool.on('error', (error) => logger.warn({ reason: brief(error) }, 'outbox relay lost an idle connection'));
    this.store = outboxStore(this.pool, service, options.claimMs);
    this.back = new ReadinessWatch({
      ready: (destination) => client.ready(destination),
      pollMs: options.pollMs,
      // Each event's own backoff grows to OUTBOX_MAX_BACKOFF_MS: a suspension reached profile up to 10 s after it was back, where the README promises 2.
      onBack: async (destination) => {
        await this.store.hurry(destination);
        this.queue.kick();
      },
      what: "the outbox's events",
      logger,
    });
    const deliveries = new Counter({
      name: 'outbox_deliveries_total',
      help: 'Outbox events handed to another service, by destination and outcome (delivered; failed, to be retried; refused by the destination)',
      labelNames: ['destination', 'outcome'] as const,
      registers: [options.metrics.registry],
    });
    const retryable = (error: unknown) => (error as { retryable?: boolean }).retryable !== false;
    this.queue = new WorkQueue<OutboxRow>({
      name: 'outbox',
      store: this.store,
      handle: async (row) => {
        try {
          await client.deliver(row.destination, { eventId: row.event_id, topic: row.topic, payload: row.payload, createdAt: row.created_at });
        } catch (error) {
          // A refusal (400 bad input, 403 not allowed) will not change by asking again: the queue parks it.
          deliveries.inc({ destination: row.destination, outcome: retryable(error) ? 'failed' : 'refused' });
          if (retryable(error)) this.back.watch(row.destination);
          throw error;
        }
        deliveries.inc({ destination: row.destination, outcome: 'delivered' });
      },
      retryable,
      describe: (row) => ({ eventId: row.event_id, topic: row.topic, destination: row.destination }),
      pollMs: options.pollMs,
      baseBackoffMs: 250,
      maxBackoffMs: options.maxBackoffMs,
      maxAttempts: options.maxAttempts,
      concurrency: MAX_IN_FLIGHT,
      logger,
      registry: options.metrics.registry,
    });
    this.listener = new NotificationListener({
      url: options.databaseUrl,
      channels: [`${service}_outbox`],
      onNotification: () => this.queue.kick(),
      onConnected: () => this.queue.kick(),
      maxBackoffMs: options.maxBackoffMs,
      // A LISTEN connection whose server went silent hears nothing and says nothing: ask it, as the subscriptions' hub does.
      heartbeatMs: options.poolTimeoutMs,
      logger,
    });
  }

  /** Starts listening for new events and polling for due ones. */
  async start(): Promise<void> {
    await this.listener.start();
    this.queue.start();
  }

  /** Looks for due events now. */
  kick(): void {
    this.queue.kick();
  }

  /** Waits until no pass and no delivery is under way (tests, and the end of a graceful stop). */
  settle(): Promise<void> {
    return this.queue.settle();
  }

  async stop(): Promise<void> {
    this.back.stop();
    await this.queue.stop();
    await this.listener.stop();
    await this.pool.end();
  }
}
