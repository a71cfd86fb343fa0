import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPOSITORY_ROOT, runMain } from '@fedstack/runtime';
import { withSettingsTable } from '../settings-table';

/**
 * `npm run docs:settings`: rewrites the README's settings table from the settings every process declares.
 * With `--check`, changes nothing and fails if the table is out of date.
 */
runMain(async () => {
  const file = path.join(REPOSITORY_ROOT, 'README.md');
  const current = readFileSync(file, 'utf8');
  const next = withSettingsTable(current);
  if (process.argv.includes('--check')) {
    if (next !== current) {
      console.error('README.md: the settings table is out of date; run npm run docs:settings');
      process.exit(1);
    }
    return;
  }
  if (next !== current) writeFileSync(file, next);
  console.log(next === current ? 'README.md: the settings table is up to date.' : 'README.md: settings table rewritten.');
});
