import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPOSITORY_ROOT } from '@fedstack/runtime';
import { checkSchema, compose, readSupergraphConfig, type SupergraphConfig } from './composition';

const CONFIG = path.join(REPOSITORY_ROOT, 'supergraph.yaml');
const COMMITTED = readFileSync(path.join(REPOSITORY_ROOT, 'supergraph.graphql'), 'utf8');

/** A copy of supergraph.yaml and the subgraph schemas in a temporary folder, with one schema edited. */
function editedCopy(subgraph: string, edit: (schema: string) => string): { config: SupergraphConfig; cleanup(): void } {
  const folder = mkdtempSync(path.join(os.tmpdir(), 'fedstack-compose-'));
  cpSync(CONFIG, path.join(folder, 'supergraph.yaml'));
  for (const name of ['auth', 'profile', 'payments', 'admin']) {
    cpSync(path.join(REPOSITORY_ROOT, 'subgraphs', name, 'schema.graphql'), path.join(folder, 'subgraphs', name, 'schema.graphql'));
  }
  const file = path.join(folder, 'subgraphs', subgraph, 'schema.graphql');
  writeFileSync(file, edit(readFileSync(file, 'utf8')));
  return { config: readSupergraphConfig(path.join(folder, 'supergraph.yaml')), cleanup: () => rmSync(folder, { recursive: true, force: true }) };
}

describe('schema composition and checks', () => {
  it('composes the four subgraphs into exactly the committed supergraph.graphql', () => {
    const result = compose(readSupergraphConfig(CONFIG));
    expect(result).toMatchObject({ ok: true, hints: [] });
    expect(result.ok && result.supergraphSdl).toBe(COMMITTED);
  });

  it('passes on the repository as it is', async () => {
    const report = await checkSchema({ config: readSupergraphConfig(CONFIG), committedSupergraph: COMMITTED, baseSupergraph: COMMITTED, acknowledged: [] });
    expect(report.problems).toEqual([]);
  });

  it('fails on a composition error, naming the subgraphs and the type', async () => {
    const copy = editedCopy('payments', (schema) => schema.replace('type PageInfo @shareable {', 'type PageInfo {'));
    try {
      const report = await checkSchema({ config: copy.config, committedSupergraph: COMMITTED, baseSupergraph: COMMITTED, acknowledged: [] });
      expect(report.problems[0]).toBe('Composition failed:');
      const errors = report.problems.slice(1).join('\n');
      expect(errors).toMatch(/PageInfo/);
      expect(errors).toMatch(/"payments"/);
    } finally {
      copy.cleanup();
    }
  });

  it('fails when supergraph.graphql is not what composition writes now', async () => {
    const report = await checkSchema({
      config: readSupergraphConfig(CONFIG),
      committedSupergraph: COMMITTED.replace('Lower-cased and trimmed; unique.', 'Edited by hand.'),
      baseSupergraph: COMMITTED,
      acknowledged: [],
    });
    expect(report.problems).toEqual([expect.stringMatching(/^supergraph\.graphql is stale/)]);
  });

  it('fails on a breaking change against the base unless it is acknowledged', async () => {
    const copy = editedCopy('auth', (schema) => schema.replace(/\n\s*lastLoginAt: DateTime\n/, '\n'));
    try {
      const next = compose(copy.config);
      expect(next.ok).toBe(true);
      const committed = next.ok ? next.supergraphSdl : '';
      const refused = await checkSchema({ config: copy.config, committedSupergraph: committed, baseSupergraph: COMMITTED, acknowledged: [] });
      expect(refused.problems[0]).toMatch(/^Breaking changes/);
      expect(refused.problems[1]).toMatch(/User\.lastLoginAt/);
      const accepted = await checkSchema({
        config: copy.config,
        committedSupergraph: committed,
        baseSupergraph: COMMITTED,
        acknowledged: [{ path: 'User.lastLoginAt', reason: 'test' }],
      });
      expect(accepted.problems).toEqual([]);
    } finally {
      copy.cleanup();
    }
  });

  it('treats additions as safe', async () => {
    const copy = editedCopy('auth', (schema) => schema.replace('  lastLoginAt: DateTime\n', '  lastLoginAt: DateTime\n  nickname: String\n'));
    try {
      const next = compose(copy.config);
      const report = await checkSchema({
        config: copy.config,
        committedSupergraph: next.ok ? next.supergraphSdl : '',
        baseSupergraph: COMMITTED,
        acknowledged: [],
      });
      expect(report.problems).toEqual([]);
    } finally {
      copy.cleanup();
    }
  });

  it('refuses a federation_version other than the installed composition', () => {
    const result = compose({ ...readSupergraphConfig(CONFIG), federationVersion: '2.3.0' });
    expect(result).toEqual({ ok: false, errors: [expect.stringMatching(/pins federation_version 2\.3\.0, but @apollo\/composition 2\.14\.4 is installed/)] });
  });

  it('runs as `npm run check:schema` does, and exits 0 on this repository', () => {
    const run = spawnSync(process.execPath, [path.join(REPOSITORY_ROOT, 'gateway', 'dist', 'cli', 'check-schema.js')], {
      env: { ...process.env, SCHEMA_BASE_REF: 'HEAD' },
      encoding: 'utf8',
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/Schema checks passed/);
  });
});
