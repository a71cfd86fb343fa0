import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '@fedstack/runtime';
import { baseRevision, checkedManifests } from './schema-base';

/** A scratch folder for git repositories, removed after each test. */
let folder: string;
beforeEach(() => {
  folder = mkdtempSync(path.join(os.tmpdir(), 'fedstack-schema-base-'));
});
afterEach(() => rmSync(folder, { recursive: true, force: true }));

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', '-c', 'init.defaultBranch=main', ...args], { cwd, encoding: 'utf8' }).trim();

/** A repository with `commits` commits, each writing file.txt, on main. */
function repository(name: string, commits: string[]): string {
  const where = path.join(folder, name);
  git(folder, 'init', '-q', where);
  for (const commit of commits) {
    writeFileSync(path.join(where, 'file.txt'), commit);
    git(where, 'add', '.');
    git(where, 'commit', '-q', '-m', commit);
  }
  return where;
}

describe('the base revision check:schema measures a change against', () => {
  it('is the previous commit on a clean checkout, and HEAD while a file that defines the schema has uncommitted changes', () => {
    const origin = repository('origin', ['one', 'two']);
    writeFileSync(path.join(origin, 'supergraph.graphql'), 'committed');
    writeFileSync(path.join(origin, 'breaking-changes.yaml'), 'committed');
    git(origin, 'add', '.');
    git(origin, 'commit', '-q', '-m', 'three');
    const previous = { revision: git(origin, 'rev-parse', 'HEAD~1'), why: expect.stringMatching(/^HEAD~1/) };
    expect(baseRevision(origin, {})).toEqual(previous);
    // Another file's change (a README, a file CI rewrote) is not what the check checks: HEAD's change still is.
    writeFileSync(path.join(origin, 'file.txt'), 'uncommitted');
    expect(baseRevision(origin, {})).toEqual(previous);
    // Nor an acknowledgement written after the breaking change was committed: measured against HEAD, that
    // change was measured against itself and passed.
    writeFileSync(path.join(origin, 'breaking-changes.yaml'), 'uncommitted');
    expect(baseRevision(origin, {})).toEqual(previous);
    writeFileSync(path.join(origin, 'supergraph.graphql'), 'uncommitted');
    expect(baseRevision(origin, {})).toEqual({ revision: git(origin, 'rev-parse', 'HEAD'), why: expect.stringMatching(/^HEAD, .*uncommitted/) });
  });

  it("is where a branch left origin/main, and none (saying why) in a shallow clone that lacks it, not the branch's own previous commit", () => {
    const origin = repository('origin', ['one', 'two']);
    const forkPoint = git(origin, 'rev-parse', 'HEAD');
    git(origin, 'checkout', '-q', '-b', 'feature');
    for (const commit of ['three', 'four']) {
      writeFileSync(path.join(origin, 'file.txt'), commit);
      git(origin, 'commit', '-q', '-am', commit);
    }
    git(folder, 'clone', '-q', '-b', 'feature', `file://${origin}`, 'full');
    expect(baseRevision(path.join(folder, 'full'), {})).toEqual({ revision: forkPoint, why: 'where this branch left origin/main' });
    // As CI often checks out: the branch's last two commits and origin/main's tip, no history between them.
    git(folder, 'clone', '-q', '--depth', '2', '-b', 'feature', `file://${origin}`, 'shallow');
    const shallow = path.join(folder, 'shallow');
    git(shallow, 'fetch', '-q', '--depth', '1', 'origin', 'main:refs/remotes/origin/main');
    expect(baseRevision(shallow, {})).toEqual({ revision: null, reason: expect.stringContaining('This checkout is shallow') });
    // The branch fetched alone, without origin/main at all: the same.
    git(folder, 'clone', '-q', '--depth', '2', '--single-branch', '-b', 'feature', `file://${origin}`, 'alone');
    expect(baseRevision(path.join(folder, 'alone'), {})).toEqual({ revision: null, reason: expect.stringContaining('This checkout is shallow') });
    expect(baseRevision(shallow, { SCHEMA_BASE_REF: 'HEAD~1' })).toEqual({ revision: git(shallow, 'rev-parse', 'HEAD~1'), why: 'SCHEMA_BASE_REF=HEAD~1' });
  });

  it('is none, saying why, in a shallow clone, a repository with one commit or none, and a folder git cannot read', () => {
    const origin = repository('origin', ['one', 'two']);
    git(folder, 'clone', '-q', '--depth', '1', `file://${origin}`, 'shallow');
    expect(baseRevision(path.join(folder, 'shallow'), {})).toEqual({ revision: null, reason: expect.stringContaining('This checkout is shallow') });
    expect(baseRevision(repository('single', ['one']), {})).toEqual({
      revision: null,
      reason: 'HEAD has no parent commit: nothing to compare for breaking changes.',
    });
    expect(baseRevision(repository('empty', []), {})).toEqual({
      revision: null,
      reason: 'This checkout has no commit yet: nothing to compare for breaking changes.',
    });
    const plain = path.join(folder, 'plain');
    mkdirSync(plain);
    expect(baseRevision(plain, {})).toEqual({
      revision: null,
      reason: expect.stringMatching(/is not a git checkout git can read \(fatal: not a git repository/),
    });
    expect(() => baseRevision(plain, { SCHEMA_BASE_REF: 'main' })).toThrow(/^SCHEMA_BASE_REF: .* is not a git checkout git can read/);
  });
});

describe('the manifests check:schema holds a change to', () => {
  it("include a client's manifest that the change deletes, read at the base: its deployed builds still send its operations", () => {
    const where = repository('app', ['one']);
    for (const client of ['web', 'mobile', 'my app', 'café']) {
      mkdirSync(path.join(where, 'clients', client), { recursive: true });
      writeFileSync(path.join(where, 'clients', client, 'persisted-query-manifest.json'), '{}');
    }
    writeFileSync(path.join(where, 'clients', 'web', 'other.json'), '{}');
    git(where, 'add', '.');
    git(where, 'commit', '-q', '-m', 'two clients');
    const base = git(where, 'rev-parse', 'HEAD');
    // Deleted: one plain name, and two that git would quote (a space, a non-ASCII letter).
    for (const client of ['mobile', 'my app', 'café']) rmSync(path.join(where, 'clients', client), { recursive: true });
    const manifest = (client: string) => path.join(where, 'clients', client, 'persisted-query-manifest.json');
    expect(checkedManifests(where, {}, base)).toEqual({
      current: [manifest('web')],
      atBase: [manifest('café'), manifest('mobile'), manifest('my app'), manifest('web')],
    });
    expect(checkedManifests(where, {})).toEqual({ current: [manifest('web')], atBase: [manifest('web')] });
  });

  it('are SCHEMA_CHECK_MANIFESTS when set, which may not hold an empty entry', () => {
    expect(checkedManifests(folder, { SCHEMA_CHECK_MANIFESTS: 'a.json, b/c.json' })).toEqual({
      current: [path.join(folder, 'a.json'), path.join(folder, 'b', 'c.json')],
      atBase: [path.join(folder, 'a.json'), path.join(folder, 'b', 'c.json')],
    });
    expect(() => checkedManifests(folder, { SCHEMA_CHECK_MANIFESTS: 'a.json,' })).toThrow(ConfigError);
    expect(() => checkedManifests(folder, { SCHEMA_CHECK_MANIFESTS: 'a.json,' })).toThrow('SCHEMA_CHECK_MANIFESTS: an empty entry in "a.json,"');
  });
});
