// `npm run compose`: composes supergraph.yaml's subgraphs into supergraph.graphql (and its Kubernetes copy).
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { REPOSITORY_ROOT, commandLine, runMain } from '@fedstack/runtime';
import { compose, readSupergraphConfig } from '../composition';

/** Where the composed supergraph is written: the gateway's, and the Kubernetes ConfigMap's copy (kustomize reads only files below it). */
const OUTPUTS = ['supergraph.graphql', 'deploy/kubernetes/base/supergraph.graphql'];

runMain(async () => {
  commandLine('compose', () => parseArgs({ options: {} }));
  const result = compose(readSupergraphConfig(path.join(REPOSITORY_ROOT, 'supergraph.yaml')));
  if (!result.ok) {
    console.error(['Composition failed:', ...result.errors.map((error) => `  ${error}`)].join('\n'));
    process.exit(1);
  }
  for (const hint of result.hints) console.log(`hint: ${hint}`);
  for (const output of OUTPUTS) writeFileSync(path.join(REPOSITORY_ROOT, output), result.supergraphSdl);
  console.log(`Wrote ${OUTPUTS.join(' and ')} (${result.hints.length} composition hint${result.hints.length === 1 ? '' : 's'}).`);
});
