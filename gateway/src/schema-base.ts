// What `check:schema` measures a change against: the git base revision, the supergraph there, and the operations clients deployed from it.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, readSettings, setting, text } from '@fedstack/runtime';
import { parseManifest, type PersistedOperation } from './persisted/manifest';

/** Runs git in `repository` and answers what it printed, trimmed; null when it failed. */
function git(repository: string, ...args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: repository, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

/**
 * A committed file (the supergraph, by default) at a git revision, or null when that revision has none.
 * Any other failure (no such revision) throws: read as "nothing to compare", it would pass every breaking change.
 */
export function fileAtRevision(repository: string, revision: string, file = 'supergraph.graphql'): string | null {
  if (git(repository, 'rev-parse', '--verify', '--quiet', `${revision}^{commit}`) === null) {
    throw new Error(`git has no commit ${revision} in ${repository}`);
  }
  if (!git(repository, 'ls-tree', '--name-only', revision, '--', file)) return null;
  // `./`: relative to `repository`, as ls-tree reads it, wherever the git top level is.
  return execFileSync('git', ['show', `${revision}:./${file}`], { cwd: repository, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * The operations of the manifests `files` as they were at `revision`: what clients deployed from the base
 * still send, whether or not the change keeps them listed. A change must not break those either: an
 * operation leaves a manifest in one change, once no deployed client sends it, and the schema loses what
 * it used in a later one. Manifests outside the repository, or not there at the revision, hold none.
 */
export function manifestOperationsAtRevision(repository: string, revision: string, files: readonly string[]): PersistedOperation[] {
  return files.flatMap((file) => {
    const relative = path.relative(repository, file);
    if (relative.startsWith('..') || path.isAbsolute(relative)) return [];
    const text = fileAtRevision(repository, revision, relative);
    return text === null ? [] : parseManifest(text, `${file} at ${revision.slice(0, 12)}`);
  });
}

/** What `npm run check:schema` reads. */
export const SCHEMA_CHECK_SETTINGS = {
  SCHEMA_BASE_REF: setting(
    text(),
    '`check:schema`: the git revision breaking changes are measured against (one this checkout does not hold fails the check)',
    "where the branch left `origin/main`; on its line, `HEAD` while the files that define the schema (`supergraph.yaml`, `supergraph.graphql`, the subgraphs' `schema.graphql`) have uncommitted changes, else `HEAD~1` (only the last commit judged: set it in CI on such a line)",
  ),
  SCHEMA_CHECK_MANIFESTS: setting(
    text(),
    '`check:schema`: the persisted query manifests (comma-separated) whose operations a change must not break',
    'every `clients/*/persisted-query-manifest.json`, now and at the base revision',
  ),
};

/** A client's manifest under clients/, as a path relative to the repository. */
const CLIENT_MANIFEST = /^clients\/[^/]+\/persisted-query-manifest\.json$/;

/** The manifests `check:schema` reads: those to read now, and those to read at the base revision. */
export interface CheckedManifests {
  current: string[];
  atBase: string[];
}

/**
 * The manifests `check:schema` holds changes to: SCHEMA_CHECK_MANIFESTS, now and at the base; else each
 * client's under clients/, those there now and, given the base `revision`, also those there then (a
 * client whose manifest the change deletes or moves has deployed builds that still send its operations).
 */
export function checkedManifests(repository: string, env: NodeJS.ProcessEnv = process.env, revision?: string): CheckedManifests {
  const { SCHEMA_CHECK_MANIFESTS: listed } = readSettings(env, SCHEMA_CHECK_SETTINGS);
  if (listed !== undefined) {
    const files = listed.split(',').map((file) => file.trim());
    if (files.some((file) => file === ''))
      throw new ConfigError(`SCHEMA_CHECK_MANIFESTS: an empty entry in "${listed}"; list the manifests' paths, separated by commas`);
    const resolved = files.map((file) => path.resolve(repository, file));
    return { current: resolved, atBase: resolved };
  }
  const clients = path.join(repository, 'clients');
  const now = existsSync(clients) ? readdirSync(clients).map((client) => path.join('clients', client, 'persisted-query-manifest.json')) : [];
  const current = now.filter((file) => existsSync(path.join(repository, file)));
  // NUL-separated and unquoted: git would otherwise quote a path with a space or a non-ASCII letter.
  const tree = revision ? git(repository, '-c', 'core.quotePath=false', 'ls-tree', '-r', '-z', '--name-only', revision, '--', 'clients') : null;
  const then = tree?.split('\0') ?? [];
  const atBase = [...new Set([...current, ...then.filter((file) => CLIENT_MANIFEST.test(file))])].sort();
  return { current: current.map((file) => path.join(repository, file)), atBase: atBase.map((file) => path.join(repository, file)) };
}

/** Why git cannot read `repository` as a checkout (not one, or one it refuses: "dubious ownership"), in git's words; undefined when it can. */
function notACheckout(repository: string): string | undefined {
  try {
    execFileSync('git', ['rev-parse', '--is-inside-work-tree'], { cwd: repository, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return undefined;
  } catch (error) {
    const { stderr, message } = error as { stderr?: string; message: string };
    const said = stderr?.trim().split('\n')[0] || message;
    return `${repository} is not a git checkout git can read (${said})`;
  }
}

/**
 * The files that define the schema (as pathspecs): uncommitted changes to these are the change being
 * checked. Not the acknowledgements or the manifests, which change no schema: with HEAD as the base for
 * them, a breaking change committed in HEAD was measured against itself, and one acknowledged after its
 * commit (an edit CONTRIBUTING says does not help) passed.
 */
const SCHEMA_FILES = ['supergraph.yaml', 'supergraph.graphql', 'subgraphs/*/schema.graphql'];

/** The revision a change is measured against and why that one; or none, and why there is none. */
export type BaseRevision = { revision: string; why: string } | { revision: null; reason: string };

const SHALLOW =
  'This checkout is shallow and holds no base revision, so breaking changes were not checked: fetch its history (fetch-depth: 0) or set SCHEMA_BASE_REF.';

/**
 * The revision breaking changes are measured against: SCHEMA_BASE_REF; else, on a branch that has left
 * origin/main, where it left it; else (on origin/main's line, or without it) HEAD when the files that
 * define the schema have uncommitted changes, which are what is being checked, and HEAD~1 when they have
 * none (only the last commit is judged then: CI on such a line sets SCHEMA_BASE_REF to what was deployed). A SCHEMA_BASE_REF
 * that names no commit here fails (a typo, or a ref the checkout never fetched would otherwise pass every
 * change unchecked). A shallow checkout without its fork point from origin/main (or without origin/main
 * at all, a branch fetched alone) has no base: its previous commit would judge only its last change.
 */
export function baseRevision(repository: string, env: NodeJS.ProcessEnv = process.env): BaseRevision {
  const { SCHEMA_BASE_REF: baseRef } = readSettings(env, SCHEMA_CHECK_SETTINGS);
  const unreadable = notACheckout(repository);
  if (unreadable && baseRef) throw new ConfigError(`SCHEMA_BASE_REF: ${unreadable}`);
  if (unreadable) return { revision: null, reason: `${unreadable}, so breaking changes were not checked.` };
  const commit = (ref: string) => git(repository, 'rev-parse', '--verify', '--quiet', `${ref}^{commit}`);
  if (baseRef) {
    const revision = commit(baseRef);
    if (revision) return { revision, why: `SCHEMA_BASE_REF=${baseRef}` };
    throw new ConfigError(`SCHEMA_BASE_REF: "${baseRef}" is no commit of this checkout: a typo, or a ref it has not fetched (fetch it, or more history)`);
  }
  const shallow = git(repository, 'rev-parse', '--is-shallow-repository') === 'true';
  const head = commit('HEAD');
  if (commit('origin/main')) {
    const mergeBase = git(repository, 'merge-base', 'HEAD', 'origin/main');
    if (mergeBase === null) {
      return { revision: null, reason: shallow ? SHALLOW : 'HEAD shares no history with origin/main: set SCHEMA_BASE_REF to the revision to compare with.' };
    }
    if (mergeBase !== head) return { revision: mergeBase, why: 'where this branch left origin/main' };
  } else if (shallow) {
    // A branch fetched alone (CI's usual checkout): its previous commit would judge only its last change.
    return { revision: null, reason: SHALLOW };
  }
  if (head && git(repository, 'status', '--porcelain', '--untracked-files=no', '--', ...SCHEMA_FILES)) {
    return { revision: head, why: 'HEAD, the schema files having uncommitted changes' };
  }
  const previous = commit('HEAD~1');
  if (previous) return { revision: previous, why: 'HEAD~1, the schema files having no uncommitted changes' };
  const nothing = head ? 'HEAD has no parent commit' : 'This checkout has no commit yet';
  return { revision: null, reason: shallow ? SHALLOW : `${nothing}: nothing to compare for breaking changes.` };
}
