// `npm run codegen`: writes each subgraph's resolver types from its schema.graphql, and the example client's
// operation types and persisted query manifest from its operations. With `--check`, writes nothing and fails
// naming the files that are not what it would write (`npm test` runs that).
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { REPOSITORY_ROOT, SERVICES, commandLine, runMain } from '@fedstack/runtime';
import { generatedFiles } from '@fedstack/example-client/codegen';
import { generatedFile, resolverTypes } from '../codegen';

/** Every generated file and what it should hold now, relative to the repository. */
async function expectedFiles(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const service of SERVICES) files.set(generatedFile(service), await resolverTypes(service));
  const client = await generatedFiles();
  for (const { file, content } of client.files) files.set(path.relative(REPOSITORY_ROOT, file), content);
  // A file the client preset no longer writes (its folder is the preset's alone) is stale too.
  for (const name of existsSync(client.generatedFolder) ? readdirSync(client.generatedFolder) : []) {
    const file = path.relative(REPOSITORY_ROOT, path.join(client.generatedFolder, name));
    if (!files.has(file)) files.set(file, '');
  }
  return files;
}

runMain(async () => {
  const { check = false } = commandLine('codegen', () => parseArgs({ options: { check: { type: 'boolean' } } })).values;
  const stale: string[] = [];
  for (const [file, next] of await expectedFiles()) {
    const where = path.join(REPOSITORY_ROOT, file);
    const current = existsSync(where) ? readFileSync(where, 'utf8') : undefined;
    if (next === (current ?? '')) continue;
    stale.push(file);
    if (check) continue;
    if (next === '') {
      rmSync(where);
    } else {
      mkdirSync(path.dirname(where), { recursive: true });
      writeFileSync(where, next);
    }
  }
  if (check && stale.length > 0) {
    console.error(`Stale generated code (run npm run codegen): ${stale.join(', ')}`);
    process.exit(1);
  }
  if (!check) console.log(stale.length ? `Wrote ${stale.join(', ')}` : 'Generated code is up to date.');
});
