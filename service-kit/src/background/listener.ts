// A LISTEN connection that comes back by itself: notifications wake background work, and a lost connection costs only latency.
import pg from 'pg';
import type { Logger } from '@fedstack/runtime';
import { brief } from './brief';
import { backoffMs } from './work-queue';

/** How long stop() waits for the LISTEN connection to end politely before cutting it. */
const END_WAIT_MS = 1000;

/**
 * Listens on PostgreSQL channels on a connection of its own, calling `onNotification` for each
 * notification. PostgreSQL delivers a NOTIFY only at commit, so whatever it announces is there to read.
 * When the connection is lost (the server restarted, a failover), it reconnects with a backoff doubling
 * up to `maxBackoffMs`, saying so once; the polls of the work it wakes carry on meanwhile. `onConnected`
 * runs after every (re)connection, for work that may have been announced while nobody listened; `onLost`
 * as soon as a connection is lost (or an attempt fails), for those who must know that they heard nothing.
 * A connection that dies without a word (a half-open TCP connection after a failover or a partition)
 * looks like a quiet one; with `heartbeatMs`, it is asked `SELECT 1` that often, and one that does not
 * answer within as long again counts as lost.
 */
export class NotificationListener {
  private client: pg.Client | undefined;
  private retry: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopped = false;
  private readonly lostClients = new WeakSet<pg.Client>();

  constructor(
    private readonly options: {
      url: string;
      channels: readonly string[];
      onNotification(message: pg.Notification): void;
      onConnected?(): void;
      onLost?(): void;
      heartbeatMs?: number;
      maxBackoffMs: number;
      logger: Logger;
    },
  ) {}

  /** Connects and listens; resolves once listening, or once the first attempt has failed (it keeps trying). */
  async start(): Promise<void> {
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    clearTimeout(this.heartbeat);
    const { client } = this;
    if (!client) return;
    // A LISTEN connection has nothing to flush: its server gone silent (a partition, a failover) would hold
    // end() until TCP gives up, some 15 minutes, and the process's stop with it. Cut off after a moment.
    const ended = client.end().then(
      () => true,
      () => true,
    );
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), END_WAIT_MS)));
    if (!(await Promise.race([ended, waited]))) (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    clearTimeout(timer);
  }

  /** Whether notifications are being received now. */
  get listening(): boolean {
    return this.client !== undefined;
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    // With heartbeats, an attempt that goes unanswered as long fails too (a server that is not there any more).
    // Named for the channels (unless the URL names its connections), so that an operator, or a drill that
    // ends it, can tell it from the pool's connections in pg_stat_activity.
    const client = new pg.Client({
      connectionString: this.options.url,
      connectionTimeoutMillis: this.options.heartbeatMs ?? 0,
      fallback_application_name: `listen: ${this.options.channels.join(', ')}`,
    });
    client.on('notification', (message) => this.options.onNotification(message));
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('the connection ended')));
    try {
      await client.connect();
      for (const channel of this.options.channels) await client.query(`LISTEN ${client.escapeIdentifier(channel)}`);
    } catch (error) {
      this.lost(client, error);
      return;
    }
    if (this.stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    if (this.failures > 0) this.options.logger.info({ channels: this.options.channels }, 'listening for notifications again');
    this.failures = 0;
    this.client = client;
    this.beat(client);
    this.options.onConnected?.();
  }

  /** The next heartbeat on `client`, if heartbeats are on. */
  private beat(client: pg.Client): void {
    const every = this.options.heartbeatMs;
    if (!every) return;
    this.heartbeat = setTimeout(() => {
      const silent = setTimeout(() => this.lost(client, new Error(`the connection did not answer within ${every} ms`)), every);
      silent.unref();
      client.query('SELECT 1').then(
        () => {
          clearTimeout(silent);
          if (this.client === client) this.beat(client);
        },
        (error: unknown) => {
          clearTimeout(silent);
          this.lost(client, error);
        },
      );
    }, every);
    this.heartbeat.unref();
  }

  private lost(client: pg.Client, error: unknown): void {
    // A connection is lost once, however many events say so; an old one's late news is not the current one's.
    if (this.lostClients.has(client) || (client !== this.client && this.client !== undefined)) return;
    this.lostClients.add(client);
    this.client = undefined;
    clearTimeout(this.heartbeat);
    client.end().catch(() => undefined);
    if (this.stopped) return;
    this.options.onLost?.();
    this.failures += 1;
    if (this.failures === 1) {
      this.options.logger.warn(
        { channels: this.options.channels, reason: brief(error) },
        'not listening for notifications; polling until the connection is back',
      );
    }
    this.retry = setTimeout(() => void this.connect(), backoffMs(this.failures, this.options.maxBackoffMs));
    this.retry.unref();
  }
}
