import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPOSITORY_ROOT } from '@fedstack/runtime';
import { apiSchemaSdl, checkPageOperations } from './operations-check';
import { PAGE_FOLDER } from './paths';

const OPERATIONS = readFileSync(path.join(PAGE_FOLDER, 'operations.ts'), 'utf8');

describe("the example client's codegen, on operations that do not fit", () => {
  let folder: string;
  beforeEach(() => (folder = mkdtempSync(path.join(os.tmpdir(), 'fedstack-codegen-'))));
  afterEach(() => rmSync(folder, { recursive: true, force: true }));

  /** The page's operations file, edited, where the check reads it; with the line `marker` ends up on. */
  function edited(edit: (text: string) => string, marker: string): { file: string; line: number } {
    const file = path.join(folder, 'operations.ts');
    const text = edit(OPERATIONS);
    writeFileSync(file, text);
    return { file, line: text.split('\n').findIndex((line) => line.includes(marker)) + 1 };
  }

  it('passes the operations as they are', () => {
    expect(() => checkPageOperations(apiSchemaSdl(), [path.join(PAGE_FOLDER, 'operations.ts')])).not.toThrow();
  });

  it("names the file, the field's own line and the operation (GraphQL Code Generator counted lines from the template's start, naming none)", () => {
    const { file, line } = edited((text) => text.replace(/(createPayment\([^)]*\) \{\n\s*)id/, '$1nosuch id'), 'nosuch');
    expect(() => checkPageOperations(apiSchemaSdl(), [file])).toThrow(
      `the example client's operations do not fit the API schema:\n${path.relative(REPOSITORY_ROOT, file)}:${line}: CreatePayment: Cannot query field "nosuch" on type "Payment".`,
    );
  });

  it('gives a syntax error its file and line (it was a stack trace naming no file)', () => {
    const { file, line } = edited((text) => text.replace('mutation SignIn(', 'mutation SignIn(('), 'SignIn((');
    expect(() => checkPageOperations(apiSchemaSdl(), [file])).toThrow(
      `${path.relative(REPOSITORY_ROOT, file)}:${line}: Syntax Error: Expected "$", found "(".`,
    );
  });

  it('blames a supergraph that does not parse, not the operations', () => {
    const file = path.join(folder, 'supergraph.graphql');
    writeFileSync(file, 'garbage');
    expect(() => apiSchemaSdl(file)).toThrow(new RegExp(`^${path.relative(REPOSITORY_ROOT, file).replace(/\./g, '\\.')}: .*\\(npm run compose writes it\\)$`));
  });
});
