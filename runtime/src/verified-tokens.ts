// The one cache of verified tokens: a token's signature is checked once, and the outcome kept until the token expires.
import { LRUCache } from 'lru-cache';

/**
 * Remembers what verifying a token gave, by the token's exact text, until the token's own expiry, on the
 * caller's clock (so that a remembered token is refused as expired exactly when a new check would refuse
 * it). Bounded: the least recently used entries go first, so a flood of distinct tokens costs memory up
 * to `max` entries and no more. Only verified tokens belong here; a forged one is checked every time.
 */
export interface VerifiedTokens<V extends object> {
  /** What verifying `token` gave, if it verified and has not expired by `nowMs`. */
  get(token: string, nowMs: number): V | undefined;
  /** Remembers a verified token until `expiresAtMs`. */
  remember(token: string, value: V, expiresAtMs: number): void;
}

/** A cache of at most `max` verified tokens. */
export function verifiedTokens<V extends object>(max: number): VerifiedTokens<V> {
  const cache = new LRUCache<string, { value: V; expiresAtMs: number }>({ max });
  return {
    get(token, nowMs) {
      const known = cache.get(token);
      if (!known) return undefined;
      if (nowMs < known.expiresAtMs) return known.value;
      cache.delete(token);
      return undefined;
    },
    remember(token, value, expiresAtMs) {
      cache.set(token, { value, expiresAtMs });
    },
  };
}
