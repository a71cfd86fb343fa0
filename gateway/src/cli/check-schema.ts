// `npm run check:schema`: fails on a composition error, a stale supergraph.graphql, or a change that
// breaks a client's listed operation, listed now or at the base, or puts it over the gateway's limits (or,
// without manifests, an unacknowledged breaking change) against the git base (schema-base.ts).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { REPOSITORY_ROOT, commandLine, runMain } from '@fedstack/runtime';
import { checkSchema, readAcknowledgements, readSupergraphConfig } from '../composition';
import { readOperationLimits } from '../config';
import { PersistedOperationList } from '../persisted';
import { baseRevision, checkedManifests, fileAtRevision, manifestOperationsAtRevision } from '../schema-base';

runMain(async () => {
  commandLine('check:schema', () => parseArgs({ options: {} }));
  const supergraphFile = path.join(REPOSITORY_ROOT, 'supergraph.graphql');
  const base = baseRevision(REPOSITORY_ROOT);
  const limits = readOperationLimits();
  if (base.revision === null) console.warn(base.reason);
  const revision = base.revision ?? undefined;
  const manifests = checkedManifests(REPOSITORY_ROOT, process.env, revision);
  // The operations listed now, and those listed at the base that the change drops: deployed clients send them still.
  const listed = PersistedOperationList.read(manifests.current).operations;
  const ids = new Set(listed.map(({ id }) => id));
  const deployed = revision === undefined ? [] : manifestOperationsAtRevision(REPOSITORY_ROOT, revision, manifests.atBase);
  const baseSupergraph = revision === undefined ? null : fileAtRevision(REPOSITORY_ROOT, revision);
  if (base.revision !== null) {
    const at = `${base.revision.slice(0, 12)} (${base.why})`;
    console.log(baseSupergraph === null ? `No supergraph.graphql at ${at}: nothing to compare for breaking changes.` : `Measured against ${at}.`);
  }
  const operations = [...listed, ...deployed.filter(({ id }) => !ids.has(id))];
  const report = await checkSchema({
    config: readSupergraphConfig(path.join(REPOSITORY_ROOT, 'supergraph.yaml')),
    committedSupergraph: existsSync(supergraphFile) ? readFileSync(supergraphFile, 'utf8') : null,
    baseSupergraph,
    acknowledged: readAcknowledgements(path.join(REPOSITORY_ROOT, 'breaking-changes.yaml')),
    operations,
    limits,
  });
  if (report.warnings.length > 0) console.warn(report.warnings.join('\n'));
  if (report.problems.length > 0) {
    console.error(report.problems.join('\n'));
    process.exit(1);
  }
  // Listed operations are checked against the new schema and the limits with or without a base.
  const count = `${manifests.atBase.length} manifest${manifests.atBase.length === 1 ? '' : 's'}`;
  const judged =
    operations.length > 0 ? `, no listed operation (${count}) broken or over the limits` : baseSupergraph === null ? '' : ', no unacknowledged breaking change';
  console.log(`Schema checks passed: composition, freshness${judged}.`);
});
