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

  it('counts a document with a character past Latin-1 at two bytes a character, as V8 holds it (it counted one)', async () => {
    const kept = async (letter: string) => {
      const cache = apqCache(1_000_000);
      for (let index = 0; index < 200; index += 1) {
        const document = `{__typename}#${index}${letter.repeat(10_000)}`;
        await cache.set(`apq:${sha256Hex(document)}`, document);
      }
      return cache.keys().length;
    };
    // 10 kB of text each in one-byte letters, 20 kB in two-byte ones.
    expect([await kept('e'), await kept('€')]).toEqual([97, 49]);
  });

  it('still holds a large document whole', async () => {
    const cache = apqCache(65_536);
    const document = `{ ${'__typename '.repeat(5000)}}`;
    await cache.set(`apq:${sha256Hex(document)}`, document);
    expect(await cache.get(`apq:${sha256Hex(document)}`)).toBe(document);
  });
});
