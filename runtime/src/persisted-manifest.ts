// Apollo's persisted query manifest format: an operation's id, and a manifest written from operations.
import { createHash } from 'node:crypto';

/** The `format` of the manifests `@apollo/generate-persisted-query-manifest` writes. */
export const MANIFEST_FORMAT = 'apollo-persisted-query-manifest';

/** SHA-256 of a document's text in lowercase hex, as APQ and persisted query lists compute an id. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Operations as a manifest in Apollo's format (version 1), each with its id: for tools that list their own. */
export function persistedQueryManifest(operations: readonly { name: string; type: 'query' | 'mutation' | 'subscription'; body: string }[]): string {
  const entries = operations.map(({ name, type, body }) => ({ id: sha256Hex(body), name, type, body }));
  return `${JSON.stringify({ format: MANIFEST_FORMAT, version: 1, operations: entries }, null, 2)}\n`;
}
