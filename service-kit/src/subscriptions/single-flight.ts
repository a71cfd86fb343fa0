// One read for many asking at once: an event fanned out to many subscriptions reads its row once per process.
import type { RowEvent } from './feed';

/**
 * Calls for the same event (the one object the hub hands every subscription it reaches) while one is
 * under way share its answer; a call after it has settled reads again. So the subscriptions one event
 * reaches at once (every open tab of a user, every admin on the feed) cost one statement between them
 * instead of one each, and nothing is kept past the moment. Keyed by the event, not by the row it names:
 * a read for a later change to the same row began after that change was heard, so after it committed,
 * where a read under way for an earlier event may have begun before, and would answer the row as it was.
 */
export function singleFlight<V>(): (event: RowEvent, load: () => Promise<V>) => Promise<V> {
  const underWay = new Map<RowEvent, Promise<V>>();
  return (event, load) => {
    let pending = underWay.get(event);
    if (!pending) {
      pending = load().finally(() => underWay.delete(event));
      underWay.set(event, pending);
    }
    return pending;
  };
}
