import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GraphQLError } from 'graphql';
import { ServiceMetrics, createLogger, pollUntil, sha256Hex } from '@fedstack/runtime';
import { PersistedDocuments, type PersistedMode } from './documents';

const LISTED = 'query Me { me { id } }';
const OTHER = 'query Me { me { email } }';
const hashOf = (body: string) => ({ persistedQuery: { version: 1, sha256Hash: sha256Hex(body) } });
const codeOf = (answer: unknown) => (answer instanceof GraphQLError ? answer.extensions.code : undefined);

describe('which documents run', () => {
  let folder: string;
  let file: string;
  const documents = (mode: PersistedMode) =>
    new PersistedDocuments(
      { mode, files: mode === 'off' ? [] : [file], pollMs: 60_000 },
      new ServiceMetrics({ service: 'gateway' }),
      createLogger('test', 'silent'),
    );

  beforeAll(() => {
    folder = mkdtempSync(path.join(os.tmpdir(), 'fedstack-documents-'));
    file = path.join(folder, 'manifest.json');
    const operations = [{ id: sha256Hex(LISTED), name: 'Me', type: 'query', body: LISTED }];
    writeFileSync(file, JSON.stringify({ format: 'apollo-persisted-query-manifest', version: 1, operations }));
  });
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it('require: a listed id or body runs; anything else is refused before parsing', () => {
    const require = documents('require');
    try {
      expect(require.resolve({ extensions: hashOf(LISTED) })).toEqual({ query: LISTED, byId: true, resolvedHere: true });
      expect(require.resolve({ query: LISTED })).toEqual({ query: LISTED, byId: false, resolvedHere: true });
      // A listed body with a hash too: the hash is spent here, since there is no APQ to check it.
      expect(require.resolve({ query: LISTED, extensions: hashOf(LISTED) })).toEqual({ query: LISTED, byId: false, resolvedHere: true });
      const refused = require.resolve({ query: OTHER });
      expect(codeOf(refused)).toBe('PERSISTED_QUERY_NOT_IN_LIST');
      expect((refused as GraphQLError).extensions.http).toEqual({ status: 400 });
      expect(codeOf(require.resolve({ extensions: hashOf(OTHER) }))).toBe('PERSISTED_QUERY_NOT_FOUND');
      expect(codeOf(require.resolve({}))).toBe('PERSISTED_QUERY_NOT_IN_LIST');
      expect(codeOf(require.resolve({ query: 42 }))).toBe('PERSISTED_QUERY_NOT_IN_LIST');
    } finally {
      require.close();
    }
  });

  it('allow: a listed id resolves here, an unknown one is left to APQ, and any document runs', () => {
    const allow = documents('allow');
    try {
      expect(allow.resolve({ extensions: hashOf(LISTED) })).toEqual({ query: LISTED, byId: true, resolvedHere: true });
      expect(allow.resolve({ extensions: hashOf(OTHER) })).toEqual({ query: undefined, byId: true, resolvedHere: false });
      expect(allow.resolve({ query: OTHER })).toEqual({ query: OTHER, byId: false, resolvedHere: false });
      // Without APQ behind it (a streaming transport), an unknown id is not found.
      expect(codeOf(allow.resolve({ extensions: hashOf(OTHER) }, { automaticPersistedQueries: false }))).toBe('PERSISTED_QUERY_NOT_FOUND');
    } finally {
      allow.close();
    }
  });

  it.each(['off', 'allow', 'require'] as const)(
    '%s: a malformed persistedQuery extension, or a hash that is not the query’s, is the client’s bad input',
    (mode) => {
      const each = documents(mode);
      try {
        for (const [request, message] of [
          [{ query: LISTED, extensions: 'abc' }, '"extensions" must be an object (got "abc")'],
          [
            { query: LISTED, extensions: { persistedQuery: { version: 2, sha256Hash: sha256Hex(LISTED) } } },
            '"extensions.persistedQuery" must be {"version":1,',
          ],
          [{ extensions: { persistedQuery: 'x' } }, '(got "x")'],
          [{ extensions: { persistedQuery: { version: 1, sha256Hash: 7 } } }, '(got {"version":1,"sha256Hash":7})'],
          // Cut in characters: half an emoji (a lone surrogate) at the cut was text strict JSON decoders reject.
          [{ extensions: { persistedQuery: { version: 2, sha256Hash: `${'a'.repeat(52)}😀😀` } } }, `(got {"version":2,"sha256Hash":"${'a'.repeat(52)}😀…)`],
          [
            { query: OTHER, extensions: hashOf(LISTED) },
            `must be the SHA-256 of the query sent with it (got "${sha256Hex(LISTED)}"; the query's is "${sha256Hex(OTHER)}")`,
          ],
        ] as const) {
          const refused = each.resolve(request);
          expect(codeOf(refused)).toBe('BAD_USER_INPUT');
          expect((refused as GraphQLError).message).toContain(message);
          expect((refused as GraphQLError).extensions.http).toEqual({ status: 400 });
        }
      } finally {
        each.close();
      }
    },
  );

  it('off: nothing is resolved here', () => {
    const off = documents('off');
    expect(off.size).toBe(0);
    expect(off.resolve({ query: OTHER, extensions: { persistedQuery: null } })).toEqual({ query: OTHER, byId: false, resolvedHere: false });
    expect(off.resolve({ extensions: hashOf(LISTED) })).toEqual({ query: undefined, byId: true, resolvedHere: false });
    expect(off.resolve({ query: OTHER })).toEqual({ query: OTHER, byId: false, resolvedHere: false });
    off.close();
  });

  it('gives the listed operations metric labels of their own, however many made-up names come first, and takes a reloaded list’s', async () => {
    const metrics = new ServiceMetrics({ service: 'gateway' });
    const allow = new PersistedDocuments({ mode: 'allow', files: [file], pollMs: 20 }, metrics, createLogger('test', 'silent'));
    try {
      for (let n = 0; n < 100; n += 1) metrics.operationLabel(`Squat${n}`);
      expect([metrics.operationLabel('Me'), metrics.operationLabel('Unlisted')]).toEqual(['Me', 'other']);
      const body = 'query MyEmail { me { email } }';
      const rewrite = () =>
        writeFileSync(
          file,
          JSON.stringify({
            format: 'apollo-persisted-query-manifest',
            version: 1,
            operations: [{ id: sha256Hex(body), name: 'MyEmail', type: 'query', body }],
          }),
        );
      rewrite();
      // Written again while not taken: a change before the watcher's first look at the file is no change to it.
      await pollUntil('the new list labelled', () => metrics.operationLabel('MyEmail') === 'MyEmail' || void rewrite(), { timeoutMs: 5000, intervalMs: 200 });
    } finally {
      allow.close();
      const operations = [{ id: sha256Hex(LISTED), name: 'Me', type: 'query', body: LISTED }];
      writeFileSync(file, JSON.stringify({ format: 'apollo-persisted-query-manifest', version: 1, operations }));
    }
  });
});
