// The DataLoaders subgraphs batch their reads with.
import DataLoader from 'dataloader';
import { canonicalId } from './ids';

/**
 * A per-request DataLoader whose batch function loads rows for many keys at once; results come back
 * in key order, with `missing` where no row matched, as DataLoader requires.
 */
export function batchLoader<K, V, M = null>(
  load: (keys: readonly K[]) => Promise<V[]>,
  keyOf: (row: V) => K,
  missing: M,
  options: { maxBatchSize?: number } = {},
): DataLoader<K, V | M> {
  return new DataLoader<K, V | M>(
    async (keys) => {
      const rows = await load(keys.map(canonicalId));
      const byKey = new Map(rows.map((row) => [keyOf(row), row] as const));
      return keys.map((key) => byKey.get(canonicalId(key)) ?? missing);
    },
    { maxBatchSize: options.maxBatchSize ?? 1000, cacheKeyFn: canonicalId },
  );
}

/** Like `batchLoader`, for one-to-many: every key gets the (possibly empty) list of its rows. */
export function groupedBatchLoader<K, V>(
  load: (keys: readonly K[]) => Promise<V[]>,
  keyOf: (row: V) => K,
  options: { maxBatchSize?: number } = {},
): DataLoader<K, V[]> {
  return new DataLoader<K, V[]>(
    async (keys) => {
      const groups = new Map<K, V[]>(keys.map((key) => [canonicalId(key), []]));
      for (const row of await load(keys.map(canonicalId))) groups.get(keyOf(row))?.push(row);
      return keys.map((key) => groups.get(canonicalId(key)) ?? []);
    },
    { maxBatchSize: options.maxBatchSize ?? 1000, cacheKeyFn: canonicalId },
  );
}

/**
 * One loader per distinct set of field arguments within a request (`payments(first: 5)` on every user of
 * a list), so that the parents asking with the same arguments share one batch.
 */
export function loaderPerArguments<A extends object, L>(make: (args: A) => L): (args: A) => L {
  const loaders = new Map<string, L>();
  return (args) => {
    const key = JSON.stringify(
      Object.entries(args)
        .filter(([, value]) => value !== null && value !== undefined)
        .sort(),
    );
    let loader = loaders.get(key);
    if (!loader) {
      loader = make(args);
      loaders.set(key, loader);
    }
    return loader;
  };
}
