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
      hub.add(own).route(CHANNEL, { userId: alice });
      hub.add(one).route(CHANNEL, { id: bobPayment });
      hub.add(everything);
      const leaving = hub.add(gone);
      leaving.route(CHANNEL, { userId: alice });
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
