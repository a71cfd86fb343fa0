import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SERVICES } from '@fedstack/runtime';
import { runsInATransaction } from './migrations';
import { migrationNames, migrationsDir } from './prisma-cli';

describe('which migration scripts are applied in the transaction that records them', () => {
  it.each([
    ['an index built concurrently', 'CREATE INDEX CONCURRENTLY "payments_user_idx" ON "payments"."payments" ("user_id");'],
    ['a VACUUM', 'VACUUM ANALYZE "payments"."payments";'],
    ['its own BEGIN', 'BEGIN;\nALTER TABLE "payments"."payments" ADD COLUMN "x" INT;\nCOMMIT;'],
    ['its own transaction, spelled out', 'start transaction;\nSELECT 1;\ncommit work;'],
  ])('not one with %s (left to the CLI)', (_case, sql) => {
    expect(runsInATransaction(sql)).toBe(false);
  });

  it('one whose functions have bodies of their own (their BEGIN is no statement)', () => {
    expect(runsInATransaction('CREATE FUNCTION "payments"."f"() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN NULL;\nEND;\n$$;')).toBe(true);
  });

  it.each(SERVICES)("every committed migration of %s (none needs Prisma's CLI)", (service) => {
    for (const name of migrationNames(service)) {
      expect({ name, inATransaction: runsInATransaction(readFileSync(path.join(migrationsDir(service), name, 'migration.sql'), 'utf8')) }).toEqual({
        name,
        inATransaction: true,
      });
    }
  });
});
