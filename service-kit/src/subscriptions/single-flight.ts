// One read for many asking at once: an event fanned out to many subscriptions reads its row and each account once per process.

/**
 * Calls with the same key while one is under way share its answer; a call after it has settled reads
 * again. So nothing is cached past the moment (a subscriber checked after a change sees the change), but
 * the subscriptions one event reaches at once (every open tab of a user, every admin on the feed) cost
 * one statement between them instead of one each.
 */
export function singleFlight<V>(): (key: string, load: () => Promise<V>) => Promise<V> {
  const underWay = new Map<string, Promise<V>>();
  return (key, load) => {
    let pending = underWay.get(key);
    if (!pending) {
      pending = load().finally(() => underWay.delete(key));
      underWay.set(key, pending);
    }
    return pending;
  };
}
