import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { developmentSecret } from './keys';

describe('development secrets', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'fedstack-secrets-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('are made once, whoever races, and kept private without closing the folders above them', async () => {
    const file = path.join(root, '.data', 'keys', 'secret');
    let made = 0;
    const make = async () => `secret-${(made += 1)}`;
    const read = () => developmentSecret(file, make, (text) => text, 'test secret');
    const answers = await Promise.all(Array.from({ length: 8 }, read));
    expect(new Set(answers).size).toBe(1);
    expect(await read()).toBe(answers[0]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    // .data also holds the embedded server's data, which PostgreSQL's own system user must reach.
    expect(statSync(path.join(root, '.data')).mode & 0o055).not.toBe(0);
  });
});
