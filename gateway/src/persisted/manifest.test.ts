import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { persistedQueryManifest, sha256Hex } from '@fedstack/runtime';
import { PersistedOperationList, readManifest } from './manifest';

const BODY = 'query Me {\n  me {\n    id\n  }\n}';
const entry = (overrides: Record<string, unknown> = {}) => ({ id: sha256Hex(BODY), name: 'Me', type: 'query', body: BODY, ...overrides });

describe('persisted query manifests', () => {
  let folder: string;
  const write = (content: unknown) => {
    const file = path.join(folder, `manifest-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
    return file;
  };
  const manifest = (...operations: unknown[]) => write({ format: 'apollo-persisted-query-manifest', version: 1, operations });
  beforeEach(() => (folder = mkdtempSync(path.join(os.tmpdir(), 'fedstack-manifest-'))));
  afterEach(() => rmSync(folder, { recursive: true, force: true }));

  it('lists operations by id and by their exact text, over several files', () => {
    const other = 'mutation Out {\n  logout\n}';
    const list = PersistedOperationList.read([manifest(entry()), manifest({ id: sha256Hex(other), name: 'Out', type: 'mutation', body: other }, entry())]);
    expect(list.size).toBe(2);
    expect(list.find(sha256Hex(BODY))?.body).toBe(BODY);
    expect(list.find(sha256Hex('query { x }'))).toBeUndefined();
    expect(list.lists(BODY)).toBe(true);
    expect(list.lists('query Me { me { id } }')).toBe(false);
  });

  it.each([
    ['an id that is not the body’s hash', entry({ id: sha256Hex('other') }), /operations\[1\] \("Me"\): id [0-9a-f]{64} is not the SHA-256 of its body/],
    ['an unknown type', entry({ type: 'query!' }), /operations\[1\] \("Me"\): type /],
    ['a body that does not parse', entry({ body: 'query Me {', id: sha256Hex('query Me {') }), /operations\[1\] \("Me"\): the body is not a GraphQL document/],
    ['a body without the named operation', entry({ name: 'You' }), /operations\[1\] \("You"\): the body holds no query named "You"/],
    ['a missing name', entry({ name: undefined }), /operations\[1\]: name /],
    [
      'a body with a second operation, which operationName could choose',
      entry({ body: `${BODY}\nquery Other { me { id } }`, id: sha256Hex(`${BODY}\nquery Other { me { id } }`) }),
      /operations\[1\] \("Me"\): the body holds 2 operations; an entry holds one/,
    ],
  ])('refuses %s, naming the entry', (_case, bad, message) => {
    const file = manifest(entry(), bad);
    expect(() => readManifest(file)).toThrow(message);
    expect(() => readManifest(file)).toThrow(file);
  });

  it('reads what the tools that list their own operations write (persistedQueryManifest)', () => {
    const file = write(persistedQueryManifest([{ name: 'Me', type: 'query', body: BODY }]));
    expect(readManifest(file)).toEqual([{ id: sha256Hex(BODY), name: 'Me', type: 'query', body: BODY, file }]);
  });

  it('refuses a file that is not JSON, or not in Apollo’s format', () => {
    expect(() => readManifest(write('{ nope'))).toThrow(/not a readable JSON manifest/);
    expect(() => readManifest(write({ format: 'other', version: 1, operations: [] }))).toThrow(/not an Apollo persisted query manifest: format/);
    expect(() => readManifest(write({ format: 'apollo-persisted-query-manifest', version: 2, operations: [] }))).toThrow(/version/);
    expect(() => readManifest(path.join(folder, 'missing.json'))).toThrow(/ENOENT/);
  });
});
