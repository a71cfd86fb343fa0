// The cache of automatic persisted queries: documents by hash, bounded by the memory they hold.
import { InMemoryLRUCache } from '@apollo/utils.keyvaluecache';

/**
 * What a cached document holds besides its text's characters: its key (`apq:` and the SHA-256 in hex) is
 * counted apart; this is lru-cache's entry and the strings' headers. Measured on Node 24: 244 bytes of heap
 * per entry for 19-character documents (100,000 of them), 68 of them the key and 19 the text.
 */
const APQ_ENTRY_OVERHEAD_BYTES = 160;

/**
 * An LRU cache of APQ documents holding about `maxBytes` of memory. Apollo's default counts only each
 * document's characters: with 64 kB allowed, 6,000 one-line documents registered by a client stayed
 * (3,855 of them, about 1 MB), and the default 8 MiB let some 440,000 of them hold 117 MB.
 */
export function apqCache(maxBytes: number): InMemoryLRUCache<string> {
  return new InMemoryLRUCache<string>({ maxSize: maxBytes, sizeCalculation: (document, key) => heldBytes(document) + key.length + APQ_ENTRY_OVERHEAD_BYTES });
}

/** V8 holds a string of Latin-1 characters at one byte each, and any other at two per UTF-16 unit. */
function heldBytes(text: string): number {
  return /[\u0100-\uffff]/.test(text) ? 2 * text.length : text.length;
}
