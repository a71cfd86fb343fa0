import { sha256Hex } from '@fedstack/runtime';
import { apqCache } from './apq-cache';

describe('the cache of automatic persisted queries', () => {
  it("holds what APQ_CACHE_MAX_BYTES allows of memory, not of documents' characters: tiny documents count their key and entry too", async () => {
    const cache = apqCache(65_536);
    const documents = Array.from({ length: 1000 }, (_unused, index) => `{__typename}#${index}`);
    for (const document of documents) await cache.set(`apq:${sha256Hex(document)}`, document);
    const kept = cache.keys().length;
    // 1,000 documents of 15 to 17 characters: 16 kB of text, and about 250 kB of heap as entries.
    expect(kept).toBeGreaterThan(200);
    expect(kept).toBeLessThan(300);
    // The most recent stay.
    expect(await cache.get(`apq:${sha256Hex(documents[999] as string)}`)).toBe(documents[999]);
  });

  it('still holds a large document whole', async () => {
    const cache = apqCache(65_536);
    const document = `{ ${'__typename '.repeat(5000)}}`;
    await cache.set(`apq:${sha256Hex(document)}`, document);
    expect(await cache.get(`apq:${sha256Hex(document)}`)).toBe(document);
  });
});
