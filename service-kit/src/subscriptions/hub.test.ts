import { randomUUID } from 'node:crypto';
import { createLogger, pollUntil } from '@fedstack/runtime';
import { serviceConnection } from '@fedstack/shared-db';
import { ownerQuery } from '../testing';
import type { RowEvent } from './feed';
import { LiveHub, type LiveListener } from './hub';

const CHANNEL = 'hub_test_changed';

/** A listener that records the events the hub hands it. */
function listener(userId: string): LiveListener & { heard: string[] } {
  const heard: string[] = [];
  return { userId, heard, event: (_channel: string, event: RowEvent) => void heard.push(event.id), accountChanged: () => undefined, end: () => undefined };
}

const notify = (id: string, userId: string | null) =>
  ownerQuery('payments', `SELECT pg_notify($1, json_build_object('id', $2::text, 'userId', $3::text, 'committedAt', clock_timestamp())::text)`, [
    CHANNEL,
    id,
    userId,
  ]);

describe('LiveHub', () => {
  it("hands a routed subscription only its user's or its row's events, and every event to the others", async () => {
    const hub = new LiveHub({
      service: 'payments',
      databaseUrl: serviceConnection('payments', process.env).url,
      channels: [CHANNEL],
      maxBackoffMs: 200,
      logger: createLogger('test', 'silent'),
    });
    const [alice, bob] = [randomUUID(), randomUUID()];
    const [alicePayment, bobPayment] = [randomUUID(), randomUUID()];
    const own = listener(alice);
    const one = listener(bob);
    const everything = listener(bob);
    const gone = listener(alice);
    try {
      await hub.start();
      await pollUntil('listening', () => hub.listening, { timeoutMs: 5000 });
      hub.add(own).follow(CHANNEL, { userId: alice });
      hub.add(one).follow(CHANNEL, { id: bobPayment });
      hub.add(everything).follow(CHANNEL, undefined);
      const leaving = hub.add(gone);
      leaving.follow(CHANNEL, { userId: alice });
      leaving.leave();
      await notify(alicePayment, alice);
      await notify(bobPayment, bob);
      await notify(randomUUID(), null);
      await notify('last', bob);
      await pollUntil('every event heard', () => everything.heard.includes('last'), { timeoutMs: 5000 });
      expect(own.heard).toEqual([alicePayment]);
      expect(one.heard).toEqual([bobPayment]);
      expect(everything.heard).toHaveLength(4);
      expect(gone.heard).toEqual([]);
    } finally {
      await hub.stop();
    }
  });

  it('keeps what is heard while subscriptions start, once for them all, and ends those that start too slowly', async () => {
    const hub = new LiveHub({
      service: 'payments',
      databaseUrl: serviceConnection('payments', process.env).url,
      channels: [CHANNEL],
      maxBackoffMs: 200,
      logger: createLogger('test', 'silent'),
      startingEventsKept: 3,
    });
    const user = randomUUID();
    const ended: string[] = [];
    const starting = (name: string) => ({ ...listener(user), end: (error: Error) => void ended.push(`${name}: ${error.message}`) });
    const slow = starting('slow');
    const early = starting('early');
    const late = starting('late');
    const witness = listener(user);
    try {
      await hub.start();
      await pollUntil('listening', () => hub.listening, { timeoutMs: 5000 });
      hub.add(witness).follow(CHANNEL, undefined);
      const slowly = hub.add(slow);
      await notify('first', user);
      // Heard by the hub before the early one is added (a notification reaches the hub's connection
      // after the statement that sent it returns): it came before, so the early one does not get it.
      await pollUntil('one heard', () => witness.heard.length === 1, { timeoutMs: 5000 });
      const joined = hub.add(early);
      await notify('second', user);
      await pollUntil('two heard', () => witness.heard.length === 2, { timeoutMs: 5000 });
      // Neither is handed an event before it starts; each then gets what came on its channel since it was added.
      expect([slow.heard, early.heard]).toEqual([[], []]);
      expect(joined.follow(CHANNEL, { userId: user }).map((heard) => heard.event.id)).toEqual(['second']);
      const later = hub.add(late);
      await notify('third', user);
      await notify('fourth', user);
      await pollUntil('four heard', () => witness.heard.length === 4, { timeoutMs: 5000 });
      // Four events kept for the slow one, over the bound of three: it ends, and the late one still starts.
      expect(ended).toEqual([expect.stringMatching(/^slow: .*fell behind while the subscription started/)]);
      expect(slowly.follow(CHANNEL, undefined)).toEqual([]);
      expect(later.follow('another_channel', undefined)).toEqual([]);
      // Started, the early one is handed what comes from then on.
      expect(early.heard).toEqual(['third', 'fourth']);
    } finally {
      await hub.stop();
    }
  });

  it("looks a sign-in's account up once, and again after the view announces a change to it", async () => {
    const hub = new LiveHub({
      service: 'payments',
      databaseUrl: serviceConnection('payments', process.env).url,
      channels: [CHANNEL],
      maxBackoffMs: 200,
      logger: createLogger('test', 'silent'),
    });
    const user = randomUUID();
    const session = randomUUID();
    let lookups = 0;
    const lookup = () => {
      lookups += 1;
      return Promise.resolve({ role: 'USER' as const, status: 'ACTIVE' as const, erased: false, sessionEnded: lookups > 1 });
    };
    const subscription = { ...listener(user), changes: 0 };
    subscription.accountChanged = () => void (subscription.changes += 1);
    try {
      await hub.start();
      await pollUntil('listening', () => hub.listening, { timeoutMs: 5000 });
      // Nobody of that user subscribed here: nothing is kept.
      await hub.account(user, session, lookup);
      await hub.account(user, session, lookup);
      expect(lookups).toBe(2);
      lookups = 0;
      const membership = hub.add(subscription);
      const [first, second] = await Promise.all([hub.account(user, session, lookup), hub.account(user, session, lookup)]);
      expect(await hub.account(user, session, lookup)).toBe(first);
      expect(second).toBe(first);
      expect(lookups).toBe(1);
      await ownerQuery('payments', `SELECT pg_notify('payments_account_changed', $1)`, [user]);
      await pollUntil('the change heard', () => subscription.changes === 1, { timeoutMs: 5000 });
      expect((await hub.account(user, session, lookup))?.sessionEnded).toBe(true);
      expect(lookups).toBe(2);
      // The user's last subscription here gone: nothing kept for them.
      membership.leave();
      await hub.account(user, session, lookup);
      expect(lookups).toBe(3);
    } finally {
      await hub.stop();
    }
  });
});
