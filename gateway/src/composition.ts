// Composing the supergraph from supergraph.yaml, and checking it against what is committed and what clients already use.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { composeServices } from '@apollo/composition';
import { Supergraph } from '@apollo/federation-internals';
import { CriticalityLevel, diff } from '@graphql-inspector/core';
import { parse, type GraphQLSchema } from 'graphql';
import YAML from 'yaml';
import { ConfigError, readSettings, setting, text } from '@fedstack/runtime';
import { checkOperations } from './operation-checks';
import { parseManifest, type PersistedOperation } from './persisted/manifest';

/** One subgraph as supergraph.yaml (rover's format) describes it. */
export interface SubgraphSource {
  name: string;
  routingUrl: string;
  schemaFile: string;
}

export interface SupergraphConfig {
  federationVersion: string;
  subgraphs: SubgraphSource[];
}

/** Reads supergraph.yaml; schema paths are resolved against the file's folder. */
export function readSupergraphConfig(file: string): SupergraphConfig {
  const raw = YAML.parse(readFileSync(file, 'utf8')) as {
    federation_version?: string;
    subgraphs?: Record<string, { routing_url?: string; schema?: { file?: string } }>;
  };
  if (!raw?.federation_version) throw new Error(`${file}: federation_version is missing`);
  const subgraphs = Object.entries(raw.subgraphs ?? {}).map(([name, entry]) => {
    if (!entry.routing_url || !entry.schema?.file) throw new Error(`${file}: subgraph "${name}" needs routing_url and schema.file`);
    return { name, routingUrl: entry.routing_url, schemaFile: path.resolve(path.dirname(file), entry.schema.file) };
  });
  if (subgraphs.length === 0) throw new Error(`${file}: no subgraphs`);
  return { federationVersion: raw.federation_version.replace(/^=/, ''), subgraphs };
}

export type CompositionResult = { ok: true; supergraphSdl: string; hints: string[] } | { ok: false; errors: string[] };

/**
 * Composes the subgraphs with @apollo/composition, the library rover uses. Errors come back as text
 * that names the subgraph and the type or field involved.
 */
export function compose(config: SupergraphConfig): CompositionResult {
  const installed = (JSON.parse(readFileSync(require.resolve('@apollo/composition/package.json'), 'utf8')) as { version: string }).version;
  if (installed !== config.federationVersion) {
    return { ok: false, errors: [`supergraph.yaml pins federation_version ${config.federationVersion}, but @apollo/composition ${installed} is installed`] };
  }
  const services = [];
  for (const subgraph of config.subgraphs) {
    try {
      services.push({ name: subgraph.name, url: subgraph.routingUrl, typeDefs: parse(readFileSync(subgraph.schemaFile, 'utf8')) });
    } catch (error) {
      return { ok: false, errors: [`[${subgraph.name}] ${path.relative(process.cwd(), subgraph.schemaFile)}: ${(error as Error).message}`] };
    }
  }
  const result = composeServices(services);
  if (result.errors) {
    return {
      ok: false,
      errors: result.errors.map((error) => `${typeof error.extensions?.code === 'string' ? error.extensions.code : 'COMPOSITION_ERROR'}: ${error.message}`),
    };
  }
  return { ok: true, supergraphSdl: `${result.supergraphSdl.trimEnd()}\n`, hints: result.hints.map((hint) => `${hint.definition.code}: ${hint.message}`) };
}

/** The API schema clients see (federation's own types and directives removed). */
export function apiSchemaOf(supergraphSdl: string) {
  return Supergraph.build(supergraphSdl).apiSchema().toGraphQLJSSchema();
}

export interface BreakingChange {
  path: string;
  message: string;
}

/** Breaking changes from `base` to `next`, API schemas (`apiSchemaOf`). */
export async function breakingChanges(base: GraphQLSchema, next: GraphQLSchema): Promise<BreakingChange[]> {
  const changes = await diff(base, next);
  return changes
    .filter((change) => change.criticality.level === CriticalityLevel.Breaking)
    .map((change) => ({ path: change.path ?? '(schema)', message: change.message }));
}

/** The breaking changes a reviewer accepted in breaking-changes.yaml. */
export function readAcknowledgements(file: string): { path: string; reason: string }[] {
  const raw = YAML.parse(readFileSync(file, 'utf8')) as { acknowledged?: { path?: string; reason?: string }[] } | null;
  return (raw?.acknowledged ?? []).map((entry, index) => {
    if (!entry.path || !entry.reason) throw new Error(`${file}: acknowledged[${index}] needs both path and reason`);
    return { path: entry.path, reason: entry.reason };
  });
}

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
    'the merge base with `origin/main`, else `HEAD~1`',
  ),
  SCHEMA_CHECK_MANIFESTS: setting(
    text(),
    '`check:schema`: the persisted query manifests (comma-separated) whose operations a change must not break',
    'every `clients/*/persisted-query-manifest.json`',
  ),
};

/** The manifests `check:schema` holds changes to: SCHEMA_CHECK_MANIFESTS, else each client's under clients/. */
export function checkedManifests(repository: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const { SCHEMA_CHECK_MANIFESTS: listed } = readSettings(env, SCHEMA_CHECK_SETTINGS);
  if (listed) return listed.split(',').map((file) => path.resolve(repository, file.trim()));
  const clients = path.join(repository, 'clients');
  if (!existsSync(clients)) return [];
  return readdirSync(clients)
    .map((client) => path.join(clients, client, 'persisted-query-manifest.json'))
    .filter((file) => existsSync(file));
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
 * The revision breaking changes are measured against: SCHEMA_BASE_REF; else the merge base with
 * origin/main when this branch has diverged from it; else HEAD~1 (on main itself, the previous commit).
 * A SCHEMA_BASE_REF that names no commit here fails (a typo, or a ref the checkout never fetched would
 * otherwise pass every change unchecked); without one, none found is null with the reason.
 */
export function baseRevision(repository: string, env: NodeJS.ProcessEnv = process.env): { revision: string } | { revision: null; reason: string } {
  const { SCHEMA_BASE_REF: baseRef } = readSettings(env, SCHEMA_CHECK_SETTINGS);
  const unreadable = notACheckout(repository);
  if (unreadable && baseRef) throw new ConfigError(`SCHEMA_BASE_REF: ${unreadable}`);
  if (unreadable) return { revision: null, reason: `${unreadable}, so breaking changes were not checked.` };
  const commit = (ref: string) => git(repository, 'rev-parse', '--verify', '--quiet', `${ref}^{commit}`);
  if (baseRef) {
    const revision = commit(baseRef);
    if (revision) return { revision };
    throw new ConfigError(`SCHEMA_BASE_REF: "${baseRef}" is no commit of this checkout: a typo, or a ref it has not fetched (fetch it, or more history)`);
  }
  const head = git(repository, 'rev-parse', 'HEAD');
  const mergeBase = git(repository, 'merge-base', 'HEAD', 'origin/main');
  if (mergeBase && mergeBase !== head) return { revision: mergeBase };
  const previous = commit('HEAD~1');
  if (previous) return { revision: previous };
  const shallow = git(repository, 'rev-parse', '--is-shallow-repository') === 'true';
  return {
    revision: null,
    reason: shallow
      ? 'This checkout is shallow and holds no base revision, so breaking changes were not checked: fetch its history (fetch-depth: 0) or set SCHEMA_BASE_REF.'
      : 'HEAD has no parent and origin/main no merge base with it: nothing to compare for breaking changes.',
  };
}

export interface SchemaCheckInput {
  config: SupergraphConfig;
  /** The committed supergraph.graphql, or null if there is none. */
  committedSupergraph: string | null;
  /** The supergraph at the base revision, or null when there is nothing to compare with. */
  baseSupergraph: string | null;
  acknowledged: { path: string; reason: string }[];
  /** The operations clients ship (their persisted query manifests); none: breaking changes are judged by generic rules alone. */
  operations?: readonly PersistedOperation[];
}

export interface SchemaCheckReport {
  problems: string[];
  /** Breaking changes no listed operation uses: reported, not failed. */
  warnings: string[];
  notes: string[];
}

/**
 * The schema checks CI runs: composition succeeds, the committed supergraph is what composition writes
 * now, and nothing breaks clients against the base. With listed operations, "breaks clients" means
 * breaks a listed operation (docs/adr/0011-persisted-documents.md); without, any breaking change by
 * the generic rules that is not acknowledged.
 */
export async function checkSchema(input: SchemaCheckInput): Promise<SchemaCheckReport> {
  const problems: string[] = [];
  const notes: string[] = [];
  const composed = compose(input.config);
  if (!composed.ok) {
    problems.push('Composition failed:', ...composed.errors.map((error) => `  ${error}`));
    return { problems, warnings: [], notes };
  }
  if (composed.supergraphSdl !== input.committedSupergraph) {
    problems.push('supergraph.graphql is stale: it is not what composition writes now. Run `npm run compose` and commit the result.');
  }
  if (input.baseSupergraph === null) notes.push('No supergraph at the base revision: nothing to compare for breaking changes.');
  const next = apiSchemaOf(composed.supergraphSdl);
  const base = input.baseSupergraph === null ? null : apiSchemaOf(input.baseSupergraph);
  const changes = base === null ? [] : await breakingChanges(base, next);
  const acknowledged = new Set(input.acknowledged.map((entry) => entry.path));
  const operations = input.operations ?? [];
  if (operations.length > 0) {
    const checked = checkOperations(operations, next, base === null ? null : { schema: base, changes, acknowledged });
    return { problems: [...problems, ...checked.problems], warnings: checked.warnings, notes };
  }
  const unacknowledged = changes.filter((change) => !acknowledged.has(change.path));
  if (unacknowledged.length > 0) {
    problems.push(
      'Breaking changes to the public API (acknowledge each in breaking-changes.yaml, with a reason, if intended):',
      ...unacknowledged.map((change) => `  ${change.path}: ${change.message}`),
    );
  }
  return { problems, warnings: [], notes };
}
