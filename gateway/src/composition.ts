// Composing the supergraph from supergraph.yaml, and checking it against what is committed and what clients already use.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { composeServices } from '@apollo/composition';
import { Supergraph } from '@apollo/federation-internals';
import { CriticalityLevel, diff } from '@graphql-inspector/core';
import { GraphQLError, parse, type GraphQLSchema } from 'graphql';
import YAML from 'yaml';
import { ConfigError } from '@fedstack/runtime';
import type { OperationLimits } from './config';
import { checkOperations, operationsOverLimits } from './operation-checks';
import type { PersistedOperation } from './persisted/manifest';

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

/** A YAML file's content; a file that cannot be read or parsed is a ConfigError naming it. */
function readYaml(file: string): unknown {
  let content: string;
  try {
    content = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`${file}: cannot be read (${(error as Error).message})`);
  }
  try {
    return YAML.parse(content) as unknown;
  } catch (error) {
    throw new ConfigError(`${file}: not YAML (${(error as Error).message.split('\n')[0]})`);
  }
}

/** Reads supergraph.yaml; schema paths are resolved against the file's folder. */
export function readSupergraphConfig(file: string): SupergraphConfig {
  const raw = readYaml(file) as {
    federation_version?: string;
    subgraphs?: Record<string, { routing_url?: string; schema?: { file?: string } } | null>;
  } | null;
  if (!raw?.federation_version) throw new ConfigError(`${file}: federation_version is missing`);
  const subgraphs = Object.entries(raw.subgraphs ?? {}).map(([name, entry]) => {
    if (!entry?.routing_url || !entry.schema?.file) throw new ConfigError(`${file}: subgraph "${name}" needs routing_url and schema.file`);
    return { name, routingUrl: entry.routing_url, schemaFile: path.resolve(path.dirname(file), entry.schema.file) };
  });
  if (subgraphs.length === 0) throw new ConfigError(`${file}: no subgraphs`);
  return { federationVersion: String(raw.federation_version).replace(/^=/, ''), subgraphs };
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
      const at = error instanceof GraphQLError && error.locations?.[0] ? `:${error.locations[0].line}:${error.locations[0].column}` : '';
      return { ok: false, errors: [`[${subgraph.name}] ${path.relative(process.cwd(), subgraph.schemaFile)}${at}: ${(error as Error).message}`] };
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

/** The breaking changes a reviewer accepted in breaking-changes.yaml (none when there is no such file). */
export function readAcknowledgements(file: string): { path: string; reason: string }[] {
  if (!existsSync(file)) return [];
  const raw = readYaml(file) as Record<string, unknown> | null;
  const unknownKeys = Object.keys(raw ?? {}).filter((key) => key !== 'acknowledged');
  if (unknownKeys.length > 0)
    throw new ConfigError(`${file}: unknown key ${unknownKeys.map((key) => `"${key}"`).join(', ')} (the file holds "acknowledged", a list)`);
  const entries = raw?.acknowledged ?? [];
  if (!Array.isArray(entries)) throw new ConfigError(`${file}: "acknowledged" must be a list of { path, reason }`);
  return entries.map((entry: { path?: unknown; reason?: unknown } | null, index) => {
    if (typeof entry?.path !== 'string' || typeof entry.reason !== 'string' || !entry.path || !entry.reason) {
      throw new ConfigError(`${file}: acknowledged[${index}] needs both path and reason, as text`);
    }
    return { path: entry.path, reason: entry.reason };
  });
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
  /** The gateway's operation limits: listed operations the change puts over them fail. */
  limits?: OperationLimits;
}

export interface SchemaCheckReport {
  problems: string[];
  /** Breaking changes no listed operation uses: reported, not failed. */
  warnings: string[];
}

/**
 * The schema checks CI runs: composition succeeds, the committed supergraph is what composition writes
 * now, and nothing breaks clients against the base. With listed operations, "breaks clients" means
 * breaks a listed operation (docs/adr/0011-persisted-documents.md); without, any breaking change by
 * the generic rules that is not acknowledged.
 */
export async function checkSchema(input: SchemaCheckInput): Promise<SchemaCheckReport> {
  const problems: string[] = [];
  const composed = compose(input.config);
  if (!composed.ok) {
    problems.push('Composition failed:', ...composed.errors.map((error) => `  ${error}`));
    return { problems, warnings: [] };
  }
  if (input.committedSupergraph === null) {
    problems.push('supergraph.graphql is missing. Run `npm run compose` and commit the result.');
  } else if (composed.supergraphSdl !== input.committedSupergraph) {
    problems.push('supergraph.graphql is stale: it is not what composition writes now. Run `npm run compose` and commit the result.');
  }
  const next = apiSchemaOf(composed.supergraphSdl);
  const base = input.baseSupergraph === null ? null : apiSchemaOf(input.baseSupergraph);
  const changes = base === null ? [] : await breakingChanges(base, next);
  const acknowledged = new Set(input.acknowledged.map((entry) => entry.path));
  const operations = input.operations ?? [];
  if (operations.length > 0) {
    const checked = checkOperations(operations, next, base === null ? null : { schema: base, changes, acknowledged });
    const overLimits = input.limits ? operationsOverLimits(operations, next, composed.supergraphSdl, input.limits) : [];
    return { problems: [...problems, ...checked.problems, ...overLimits], warnings: checked.warnings };
  }
  const unacknowledged = changes.filter((change) => !acknowledged.has(change.path));
  if (unacknowledged.length > 0) {
    problems.push(
      'Breaking changes to the public API (acknowledge each in breaking-changes.yaml, with a reason, if intended):',
      ...unacknowledged.map((change) => `  ${change.path}: ${change.message}`),
    );
  }
  return { problems, warnings: [] };
}
