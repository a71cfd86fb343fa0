import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPOSITORY_ROOT, runMain } from '@fedstack/runtime';
import { compose, readSupergraphConfig } from '../composition';

/** `npm run compose`: composes supergraph.yaml's subgraphs into supergraph.graphql. */
runMain(async () => {
  const result = compose(readSupergraphConfig(path.join(REPOSITORY_ROOT, 'supergraph.yaml')));
  if (!result.ok) {
    console.error(['Composition failed:', ...result.errors.map((error) => `  ${error}`)].join('\n'));
    process.exit(1);
  }
  for (const hint of result.hints) console.log(`hint: ${hint}`);
  writeFileSync(path.join(REPOSITORY_ROOT, 'supergraph.graphql'), result.supergraphSdl);
  console.log(`Wrote supergraph.graphql (${result.hints.length} composition hint${result.hints.length === 1 ? '' : 's'}).`);
});
