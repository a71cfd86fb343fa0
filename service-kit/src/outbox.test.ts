import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { ServiceMetrics, SERVICES, createLogger, pollUntil, type Service } from '@fedstack/runtime';
import { prepareDatabases, serviceConnection } from '@fedstack/shared-db';
import { scratchDatabase } from '@fedstack/shared-db/testing';
import { InternalCallError, type InternalClient } from './internal-api';
import { OutboxRelay, enqueue, type RelayOptions } from './outbox';
import { LogCapture } from './testing';

/**
 * The relay on auth's real outbox table, in a database of its own (so that no other test's events are in
 * it), delivering to a stand-in for the other services: one accepts, one refuses outright, one is down.
 */
describe('the outbox relay', () => {
  let database: { url: string; drop(): Promise<void> };
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    database = await scratchDatabase('outbox');
    env = {
      ...Object.fromEntries(SERVICES.map((service) => [`${service.toUpperCase()}_DATABASE_URL`, ''])),
      DATABASE_URL: '',
      AUTH_DATABASE_URL: database.url,
    };
    await prepareDatabases(env, { services: ['auth'], quiet: true });
  }, 120_000);
  afterAll(() => database.drop());

  it('delivers what is accepted, parks what is refused at once and what keeps failing after its last attempt, and keeps running', async () => {
    const delivered: string[] = [];
    const logs = new LogCapture();
    const metrics = new ServiceMetrics({ service: 'auth' });
    const outbox = await relayTo(
      {
        async deliver(service: Service, event) {
          if (service === 'profile') throw new InternalCallError('profile', 400, 'profile does not take "test.event" events', 'BAD_USER_INPUT');
          if (service === 'payments') throw new InternalCallError('payments', null, 'The payments service could not be reached');
          delivered.push(event.eventId);
        },
        command: async () => undefined as never,
        ready: async () => false,
        close: async () => undefined,
      },
      { logger: createLogger('auth', 'info', logs), metrics, pollMs: 20, maxBackoffMs: 20, maxAttempts: 3 },
    );
    const { writer } = outbox;
    try {
      const eventId = await outbox.write(1, ['admin', 'profile', 'payments']);
      await outbox.relay.start();
      const rows = () =>
        writer.query<{ destination: string; attempts: number; parked: boolean; last_error: string | null }>(
          `SELECT destination, attempts, next_attempt_at = 'infinity' AS parked, last_error FROM auth.outbox WHERE event_id = $1 ORDER BY destination`,
          [eventId],
        );
      const settled = await pollUntil(
        'settled',
        async () => {
          const { rows: left } = await rows();
          return left.length === 2 && left.every((row) => row.parked) ? left : undefined;
        },
        { timeoutMs: 20_000 },
      );
      expect(delivered).toEqual([eventId]);
      expect(settled).toEqual([
        { destination: 'payments', attempts: 3, parked: true, last_error: 'The payments service could not be reached' },
        { destination: 'profile', attempts: 1, parked: true, last_error: 'profile does not take "test.event" events (BAD_USER_INPUT)' },
      ]);
      const text = await metrics.registry.metrics();
      expect(text).toMatch(/background_jobs\{worker="outbox",state="parked"[^}]*\} 2\n/);
      expect(text).toMatch(/outbox_deliveries_total\{destination="profile",outcome="refused"[^}]*\} 1\n/);
      expect(text).toMatch(/outbox_deliveries_total\{destination="payments",outcome="failed"[^}]*\} 3\n/);
      expect(logs.lines.filter((line) => line.level === 'error').map((line) => [line.destination, line.msg])).toEqual(
        expect.arrayContaining([
          ['profile', 'background job refused; parked for an operator'],
          ['payments', 'background job failed too often; parked for an operator'],
        ]),
      );
    } finally {
      await outbox.close();
    }
  });

  /** A relay on auth's outbox delivering to `client`, polling often (options as given); and a connection to write and read rows with. */
  async function relayTo(client: InternalClient, options: Partial<RelayOptions> = {}) {
    const url = serviceConnection('auth', env).url;
    const relay = new OutboxRelay({
      service: 'auth',
      databaseUrl: url,
      client,
      logger: createLogger('auth', 'warn', new LogCapture()),
      metrics: new ServiceMetrics({ service: 'auth' }),
      pollMs: 50,
      poolTimeoutMs: 5000,
      maxBackoffMs: 60_000,
      maxAttempts: 1000,
      claimMs: 5000,
      ...options,
    });
    const writer = new pg.Client(url);
    await writer.connect();
    const write = async (n: number, destinations: Service[] = ['profile']) => {
      const eventId = randomUUID();
      await enqueue(
        { $executeRawUnsafe: async (text, ...values) => (await writer.query(text, values)).rowCount ?? 0 },
        'auth',
        { topic: 'test.event', payload: { n }, destinations },
        eventId,
      );
      return eventId;
    };
    const failedOnce = (eventId: string) =>
      pollUntil(
        'a failed delivery',
        async () => (await writer.query(`SELECT 1 FROM auth.outbox WHERE event_id = $1 AND last_error IS NOT NULL`, [eventId])).rowCount || undefined,
        { timeoutMs: 10_000, intervalMs: 20 },
      );
    // As after a long outage: the event failed before, and its next attempt is OUTBOX_MAX_BACKOFF_MS away
    // (here an hour). Set before the relay starts, so that none of its own retries can overwrite it.
    const backOff = (eventId: string) =>
      writer.query(`UPDATE auth.outbox SET next_attempt_at = now() + interval '1 hour', attempts = 5, last_error = 'down' WHERE event_id = $1`, [eventId]);
    const waiting = async (eventId: string) =>
      (
        await writer.query<{ waiting: boolean }>(`SELECT next_attempt_at > now() + interval '30 minutes' AS waiting FROM auth.outbox WHERE event_id = $1`, [
          eventId,
        ])
      ).rows[0]?.waiting;
    return {
      relay,
      writer,
      write,
      failedOnce,
      backOff,
      waiting,
      async close() {
        await relay.stop();
        await writer.end();
      },
    };
  }

  it('delivers at once to a destination that answers ready again, rather than when its events have waited out their backoff', async () => {
    let up = false;
    let askedWhileDown = 0;
    const delivered: string[] = [];
    // One event fails once (so that the relay knows the destination is down), then its retry hangs (a slow
    // answer), so that it is in hand when the destination comes back.
    let slow = '';
    const startsOfSlow: number[] = [];
    let release = () => undefined as void;
    const hanging = new Promise<void>((resolve) => (release = resolve));
    const outbox = await relayTo(
      {
        async deliver(_service, event) {
          if (event.eventId === slow) {
            startsOfSlow.push(Date.now());
            if (startsOfSlow.length === 1) throw new InternalCallError('profile', null, 'The profile service could not be reached');
            await hanging;
          } else if (!up) {
            throw new InternalCallError('profile', null, 'The profile service could not be reached');
          }
          delivered.push(event.eventId);
        },
        ready: async () => up || ((askedWhileDown += 1), false),
        command: async () => undefined as never,
        close: async () => undefined,
      },
      // Longer than the test: the hanging delivery's claim must not lapse (it would be taken a third time).
      { claimMs: 120_000 },
    );
    try {
      const eventId = await outbox.write(2);
      await outbox.backOff(eventId);
      slow = await outbox.write(3);
      await outbox.relay.start();
      await pollUntil('the slow delivery failed, then under way again', async () => startsOfSlow.length === 2 || undefined, {
        timeoutMs: 10_000,
        intervalMs: 10,
      });
      await pollUntil('readiness asked while down', async () => askedWhileDown > 0 || undefined, { timeoutMs: 10_000, intervalMs: 10 });
      up = true;
      await pollUntil('the event delivered', async () => delivered.includes(eventId) || undefined, { timeoutMs: 10_000, intervalMs: 10 });
      // A pass after the hurry: it would have taken the slow one again, had the hurry made it due (a second delivery at once).
      const later = await outbox.write(4);
      await pollUntil('a later event delivered', async () => delivered.includes(later) || undefined, { timeoutMs: 10_000, intervalMs: 10 });
      expect(startsOfSlow).toHaveLength(2);
    } finally {
      release();
      await outbox.close();
    }
  });

  it('keeps the backoff of a destination that answers but fails (a 500): it was never down', async () => {
    let asked = 0;
    const attempts: string[] = [];
    const outbox = await relayTo({
      async deliver(_service, event) {
        attempts.push(event.eventId);
        throw new InternalCallError('profile', 500, 'The profile service answered HTTP 500');
      },
      ready: async () => (asked += 1) > 0,
      command: async () => undefined as never,
      close: async () => undefined,
    });
    try {
      // One event the relay fails to deliver (so that it asks whether the destination is ready), and one
      // waiting out its backoff from before, which no retry of the relay's can touch.
      const waitingId = await outbox.write(5);
      await outbox.backOff(waitingId);
      const eventId = await outbox.write(4);
      await outbox.relay.start();
      await outbox.failedOnce(eventId);
      // Asked, and ready: its events were made due at every question, 49 attempts in 5 s where the backoff allows 5.
      await pollUntil('readiness asked', async () => asked > 0 || undefined, { timeoutMs: 10_000, intervalMs: 10 });
      // A pass of the relay's after the answer (the failing event's next attempt, 250 ms or more later): had
      // the answer hurried the destination's events, this pass would have taken the waiting one too.
      const before = attempts.length;
      await pollUntil('another attempt', async () => attempts.length > before || undefined, { timeoutMs: 10_000, intervalMs: 10 });
      await outbox.relay.settle();
      expect(attempts.filter((id) => id === waitingId)).toEqual([]);
      expect(await outbox.waiting(waitingId)).toBe(true);
    } finally {
      await outbox.close();
    }
  });
});
