import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Service } from '@fedstack/shared-db';
import type { InternalClient } from './internal';
import type { Logger } from './logger';
import type { ServiceMetrics } from './metrics';

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

const BATCH = 50;
const FIRST_BACKOFF_MS = 250;

/** Delivers one service's outbox. Start it once per process; stop it on shutdown. */
export class OutboxRelay {
  private readonly pool: pg.Pool;
  private listener: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private draining: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly options: RelayOptions) {
    this.pool = new pg.Pool({ connectionString: options.databaseUrl, max: 2 });
    // An idle connection the server ends (a restart, a failover) must not end the process: the next
    // pass opens another.
    this.pool.on('error', (error) => options.logger.warn({ reason: brief(error) }, 'outbox relay lost an idle connection'));
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
    this.draining = this.drain()
      .catch((error: unknown) => this.options.logger.warn({ reason: brief(error) }, 'outbox relay pass failed; retrying at the next poll'))
      .finally(() => {
        this.draining = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Waits until nothing is due (tests, and the end of a graceful stop). */
  async settle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.draining;
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

  private async drain(): Promise<void> {
    const schema = `"${this.options.service}"`;
    for (;;) {
      const { rows } = await this.pool.query<OutboxRow>(
        `UPDATE ${schema}.outbox SET next_attempt_at = now() + ${Math.ceil(this.options.claimMs)} * interval '1 millisecond', attempts = attempts + 1
         WHERE id IN (SELECT id FROM ${schema}.outbox WHERE next_attempt_at <= now()
                      ORDER BY next_attempt_at, created_at LIMIT ${BATCH} FOR UPDATE SKIP LOCKED)
         RETURNING id, event_id, destination, topic, payload, created_at, attempts`,
      );
      if (rows.length === 0) break;
      await Promise.all(rows.map((row) => this.deliver(row)));
      await this.reportBacklog();
      if (this.stopped) break;
    }
  }

  private async deliver(row: OutboxRow): Promise<void> {
    const schema = `"${this.options.service}"`;
    const { metrics, client, logger } = this.options;
    try {
      await client.deliver(row.destination, { eventId: row.event_id, topic: row.topic, payload: row.payload, createdAt: row.created_at });
      await this.pool.query(`DELETE FROM ${schema}.outbox WHERE id = $1`, [row.id]);
      metrics.outboxDeliveries.inc({ destination: row.destination, outcome: 'delivered' });
    } catch (error) {
      const retryable = (error as { retryable?: boolean }).retryable !== false;
      const delayMs = Math.min(this.options.maxBackoffMs, FIRST_BACKOFF_MS * 2 ** Math.min(row.attempts - 1, 20));
      // A refusal (4xx) will not change by asking again: the event is parked, visible, for an operator.
      await this.pool.query(
        `UPDATE ${schema}.outbox SET next_attempt_at = ${retryable ? `now() + $2 * interval '1 millisecond'` : `'infinity'`}, last_error = $3 WHERE id = $1`,
        [row.id, delayMs, (error as Error).message.slice(0, 1000)],
      );
      metrics.outboxDeliveries.inc({ destination: row.destination, outcome: retryable ? 'retry' : 'refused' });
      const details = { eventId: row.event_id, topic: row.topic, destination: row.destination, attempts: row.attempts, err: error };
      if (!retryable) logger.error(details, 'event refused by its destination; parked in the outbox');
      else if (row.attempts >= 5) logger.warn({ ...details, retryInMs: delayMs }, 'event still undelivered');
    }
  }

  private async reportBacklog(): Promise<void> {
    const { rows } = await this.pool.query<{ pending: number; parked: number }>(
      `SELECT count(*) FILTER (WHERE next_attempt_at <> 'infinity')::int AS pending, count(*) FILTER (WHERE next_attempt_at = 'infinity')::int AS parked
       FROM "${this.options.service}".outbox`,
    );
    this.options.metrics.outboxBacklog.set({ state: 'pending' }, rows[0]?.pending ?? 0);
    this.options.metrics.outboxBacklog.set({ state: 'parked' }, rows[0]?.parked ?? 0);
  }
}
