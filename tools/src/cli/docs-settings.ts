// `npm run docs:settings`: rewrites the README's settings table from the settings every process declares
// (tools/src/settings-table.test.ts fails while it is out of date).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { REPOSITORY_ROOT, commandLine, runMain } from '@fedstack/runtime';
import { withSettingsTable } from '../settings-table';

runMain(async () => {
  commandLine('docs:settings', () => parseArgs({ options: {} }));
  const file = path.join(REPOSITORY_ROOT, 'README.md');
  const current = readFileSync(file, 'utf8');
  const next = withSettingsTable(current);
  if (next !== current) writeFileSync(file, next);
  console.log(next === current ? 'README.md: the settings table is up to date.' : 'README.md: settings table rewritten.');
});
