// `npm run check:schema`: fails on a composition error, a stale supergraph.graphql, or a change that
// breaks a client's listed operation, listed now or at the base (or, without manifests, an unacknowledged
// breaking change) against the git base (SCHEMA_BASE_REF, origin/main or HEAD~1).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { REPOSITORY_ROOT, runMain } from '@fedstack/runtime';
import {
  baseRevision,
  checkSchema,
  checkedManifests,
  fileAtRevision,
  manifestOperationsAtRevision,
  readAcknowledgements,
  readSupergraphConfig,
} from '../composition';
import { PersistedOperationList } from '../persisted';

runMain(async () => {
  const supergraphFile = path.join(REPOSITORY_ROOT, 'supergraph.graphql');
  const base = baseRevision(REPOSITORY_ROOT);
  if (base.revision === null) console.warn(base.reason);
  const manifests = checkedManifests(REPOSITORY_ROOT);
  // The operations listed now, and those listed at the base that the change drops: deployed clients send them still.
  const listed = PersistedOperationList.read(manifests).operations;
  const ids = new Set(listed.map(({ id }) => id));
  const deployed = base.revision === null ? [] : manifestOperationsAtRevision(REPOSITORY_ROOT, base.revision, manifests);
  const report = await checkSchema({
    config: readSupergraphConfig(path.join(REPOSITORY_ROOT, 'supergraph.yaml')),
    committedSupergraph: existsSync(supergraphFile) ? readFileSync(supergraphFile, 'utf8') : null,
    baseSupergraph: base.revision === null ? null : fileAtRevision(REPOSITORY_ROOT, base.revision),
    acknowledged: readAcknowledgements(path.join(REPOSITORY_ROOT, 'breaking-changes.yaml')),
    operations: [...listed, ...deployed.filter(({ id }) => !ids.has(id))],
  });
  for (const note of report.notes) console.log(note);
  if (report.warnings.length > 0) console.warn(report.warnings.join('\n'));
  if (report.problems.length > 0) {
    console.error(report.problems.join('\n'));
    process.exit(1);
  }
  const compared = base.revision !== null && report.notes.length === 0;
  const judged = manifests.length > 0 ? `no listed operation (${manifests.length} manifests) broken` : 'no unacknowledged breaking change';
  console.log(`Schema checks passed: composition, freshness${compared ? `, ${judged} since ${base.revision.slice(0, 12)}` : ''}.`);
});
