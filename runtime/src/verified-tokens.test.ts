import { verifiedTokens } from './verified-tokens';

describe('the cache of verified tokens', () => {
  it('gives back a remembered token until it expires, and then no more', () => {
    const cache = verifiedTokens<{ user: string }>(10);
    cache.remember('token-a', { user: 'a' }, 1_000);
    expect(cache.get('token-a', 999)).toEqual({ user: 'a' });
    expect(cache.get('token-a', 1_000)).toBeUndefined();
    expect(cache.get('token-a', 500)).toBeUndefined();
    expect(cache.get('never-seen', 0)).toBeUndefined();
  });

  it('is bounded, dropping the least recently used first, so a busy token stays while a flood passes', () => {
    const cache = verifiedTokens<{ n: number }>(3);
    cache.remember('busy', { n: 0 }, 10_000);
    for (let n = 1; n <= 100; n += 1) {
      cache.remember(`other-${n}`, { n }, 10_000);
      // The busy token is used between every two others, as a gateway's current assertion is.
      expect(cache.get('busy', 0)).toEqual({ n: 0 });
    }
    expect(cache.get('other-100', 0)).toEqual({ n: 100 });
    expect(cache.get('other-1', 0)).toBeUndefined();
  });
});
