import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { REPOSITORY_ROOT, SERVICES } from '@fedstack/runtime';

/**
 * No service's SQL names another service's schema, so that each can run on a database of its own: what a
 * service needs of another's data comes through federation or that service's internal API. (In the split
 * layout PostgreSQL would refuse such SQL anyway, since the other schema is not in the database; this
 * finds it in the source, whichever layout the suite runs in.)
 */
const SQL_TABLE_REFERENCE = /\b(?:FROM|JOIN|INTO|UPDATE|TABLE|ON)\s+"?(auth|profile|payments|admin)"?\s*\.\s*"?(\w+)/gi;

function sourcesOf(folder: string): string[] {
  return readdirSync(folder, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts'))
    .map((entry) => path.join(entry.parentPath, entry.name))
    .filter((file) => !file.includes(`${path.sep}generated${path.sep}`));
}

describe('service boundaries in SQL', () => {
  it.each(SERVICES)("%s's code names no other service's tables", (service) => {
    const crossings = sourcesOf(path.join(REPOSITORY_ROOT, 'subgraphs', service, 'src')).flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(SQL_TABLE_REFERENCE)]
        .filter((match) => match[1]?.toLowerCase() !== service)
        .map((match) => `${path.relative(REPOSITORY_ROOT, file)}: ${match[0]}`),
    );
    expect(crossings).toEqual([]);
  });

  it('finds such a reference when there is one', () => {
    const found = [...'SELECT role FROM auth.users u JOIN "payments"."payments" p ON true'.matchAll(SQL_TABLE_REFERENCE)].map((match) => match[1]);
    expect(found).toEqual(['auth', 'payments']);
  });
});
