// `npm run codegen`: writes each subgraph's resolver types from its schema.graphql. With `--check`, writes
// nothing and fails naming the files that are not what it would write (`npm test` runs that).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { REPOSITORY_ROOT, SERVICES, commandLine, runMain } from '@fedstack/runtime';
import { generatedFile, resolverTypes } from '../codegen';

runMain(async () => {
  const { check = false } = commandLine('codegen', () => parseArgs({ options: { check: { type: 'boolean' } } })).values;
  const stale: string[] = [];
  for (const service of SERVICES) {
    const file = generatedFile(service);
    const next = await resolverTypes(service);
    const current = readFileSync(path.join(REPOSITORY_ROOT, file), 'utf8');
    if (next === current) continue;
    stale.push(file);
    if (!check) writeFileSync(path.join(REPOSITORY_ROOT, file), next);
  }
  if (check && stale.length > 0) {
    console.error(`Stale resolver types (run npm run codegen): ${stale.join(', ')}`);
    process.exit(1);
  }
  if (!check) console.log(stale.length ? `Wrote ${stale.join(', ')}` : 'Resolver types are up to date.');
});
