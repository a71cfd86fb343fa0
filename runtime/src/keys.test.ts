import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
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
    const make = async () => `secret-${(made += 1)}`.padEnd(4 * 1024 * 1024, '.');
    // 4 MiB is written in several chunks, so a racer that read the file while another wrote it would see
    // part of it. Every racer must read a whole secret, never the empty or half-written file another is making.
    const seen: string[] = [];
    const parse = (text: string) => {
      seen.push(text);
      return text;
    };
    const read = () => developmentSecret(file, make, parse, 'test secret');
    const answers = await Promise.all(Array.from({ length: 16 }, read));
    expect(new Set(answers).size).toBe(1);
    expect(seen.every((text) => text.length === 4 * 1024 * 1024)).toBe(true);
    expect(await read()).toBe(answers[0]);
    expect(readdirSync(path.dirname(file))).toEqual(['secret']);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    // .data also holds the embedded server's data, which PostgreSQL's own system user must reach.
    expect(statSync(path.join(root, '.data')).mode & 0o055).not.toBe(0);
  });
});
