import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, REPOSITORY_ROOT, sha256Hex } from '@fedstack/runtime';
import { checkSchema, compose, readAcknowledgements, readSupergraphConfig, type SupergraphConfig } from './composition';
import { readOperationLimits, type OperationLimits } from './config';
import { fileAtRevision, manifestOperationsAtRevision } from './schema-base';
import type { PersistedOperation } from './persisted';

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

/** An operation as a client's manifest lists it. */
function listed(name: string, body: string, type: PersistedOperation['type'] = 'query'): PersistedOperation {
  return { id: sha256Hex(body), name, type, body, file: path.join(REPOSITORY_ROOT, 'clients', 'app', 'persisted-query-manifest.json') };
}

const ACCOUNT = listed('Account', 'query Account { me { id email lastLoginAt } }');
const ROLES = listed('Roles', 'query Roles { me { id role } }');
/** Sends its input as a variable: validation cannot see which of its fields the client fills. */
const PAY = listed('Pay', 'mutation Pay($input: CreatePaymentInput!, $key: String!) { createPayment(input: $input, idempotencyKey: $key) { id } }', 'mutation');

/** checkSchema on an edited copy against the committed supergraph, with the given listed operations and acknowledgements. */
async function checkEdited(
  subgraph: string,
  edit: (schema: string) => string,
  operations: PersistedOperation[],
  acknowledged: { path: string; reason: string }[] = [],
  limits?: OperationLimits,
) {
  const copy = editedCopy(subgraph, edit);
  try {
    const next = compose(copy.config);
    expect(next.ok).toBe(true);
    return await checkSchema({
      config: copy.config,
      committedSupergraph: next.ok ? next.supergraphSdl : '',
      baseSupergraph: COMMITTED,
      acknowledged,
      operations,
      limits,
    });
  } finally {
    copy.cleanup();
  }
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

  it('says supergraph.graphql is missing, not stale, when there is none', async () => {
    const report = await checkSchema({ config: readSupergraphConfig(CONFIG), committedSupergraph: null, baseSupergraph: COMMITTED, acknowledged: [] });
    expect(report.problems).toEqual(['supergraph.graphql is missing. Run `npm run compose` and commit the result.']);
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

  describe('against the operations clients ship', () => {
    const removeLastLogin = (schema: string) => schema.replace(/\n\s*lastLoginAt: DateTime\n/, '\n');

    it('fails a change that breaks a listed operation, naming the operation and the field, even where acknowledged', async () => {
      const report = await checkEdited('auth', removeLastLogin, [ACCOUNT, ROLES], [{ path: 'User.lastLoginAt', reason: 'generic rules let it through' }]);
      expect(report.problems[0]).toMatch(/^Listed operations the new schema would break/);
      expect(report.problems).toContainEqual('  "Account" (clients/app/persisted-query-manifest.json): Cannot query field "lastLoginAt" on type "User".');
      expect(report.problems).toContainEqual(expect.stringMatching(/^ {2}User\.lastLoginAt: .*\(used by "Account"/));
      expect(report.problems.join('\n')).not.toContain('"Roles"');
    });

    it('fails a change a listed operation still validates against but reads differently', async () => {
      const report = await checkEdited('auth', (schema) => schema.replace('  role: Role!\n', '  role: Role\n'), [ACCOUNT, ROLES]);
      expect(report.problems).toEqual([
        expect.stringMatching(/^Breaking changes that listed operations use/),
        expect.stringMatching(/^ {2}User\.role: .*'Role!' to 'Role'.* \(used by "Roles"/),
      ]);
    });

    it.each([
      [
        'a field removed',
        (schema: string) => schema.replace(/\n\s*"Up to 500 characters\."\n\s*description: String\n/, '\n'),
        /^ {2}CreatePaymentInput\.description: /,
      ],
      [
        'a required field added',
        (schema: string) => schema.replace('  currency: String!\n', '  currency: String!\n  note: String!\n'),
        /^ {2}CreatePaymentInput\.note: /,
      ],
      ['a field retyped', (schema: string) => schema.replace('  currency: String!\n', '  currency: Int!\n'), /^ {2}CreatePaymentInput\.currency: /],
    ])('fails %s in an input object a listed operation sends as a variable', async (_change, edit, change) => {
      const report = await checkEdited('payments', edit, [PAY, ROLES]);
      expect(report.problems[0]).toMatch(/^Breaking changes that listed operations use/);
      expect(report.problems.slice(1)).toContainEqual(expect.stringMatching(change));
      expect(report.problems.join('\n')).toMatch(/\(used by "Pay"/);
    });

    it('holds the operations the manifests listed at the base too: a change that drops one still may not break it, deployed clients sending it', async () => {
      const folder = mkdtempSync(path.join(os.tmpdir(), 'fedstack-deployed-'));
      const manifest = path.join(folder, 'clients', 'app', 'persisted-query-manifest.json');
      const git = (...args: string[]) =>
        execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: folder, encoding: 'utf8' });
      const write = (operations: PersistedOperation[]) =>
        writeFileSync(
          manifest,
          JSON.stringify({
            format: 'apollo-persisted-query-manifest',
            version: 1,
            operations: operations.map(({ id, name, type, body }) => ({ id, name, type, body })),
          }),
        );
      try {
        mkdirSync(path.dirname(manifest), { recursive: true });
        git('init', '-q');
        write([ACCOUNT, ROLES]);
        git('add', '.');
        git('commit', '-q', '-m', 'the client as deployed');
        const base = git('rev-parse', 'HEAD').trim();
        // The change: the client stops using lastLoginAt, and the schema drops it, at once.
        write([ROLES]);
        const deployed = manifestOperationsAtRevision(folder, base, [manifest, path.join(os.tmpdir(), 'outside-the-repository.json')]);
        expect(deployed.map(({ name, file }) => ({ name, file }))).toEqual([
          { name: 'Account', file: `${manifest} at ${base.slice(0, 12)}` },
          { name: 'Roles', file: `${manifest} at ${base.slice(0, 12)}` },
        ]);
        const report = await checkEdited('auth', removeLastLogin, [ROLES, ...deployed.filter(({ id }) => id !== ROLES.id)]);
        expect(report.problems).toContainEqual(
          expect.stringMatching(/^ {2}User\.lastLoginAt: .*\(used by "Account" \(.*persisted-query-manifest\.json at [0-9a-f]{12}\)\)$/),
        );
      } finally {
        rmSync(folder, { recursive: true, force: true });
      }
    });

    it('only warns of a breaking change no listed operation uses', async () => {
      const report = await checkEdited('auth', removeLastLogin, [ROLES]);
      expect(report.problems).toEqual([]);
      expect(report.warnings).toEqual([
        'Breaking changes by the generic rules that no listed operation uses:',
        expect.stringMatching(/^ {2}User\.lastLoginAt: .*\(no listed operation uses it\)$/),
      ]);
      const acknowledged = await checkEdited('auth', removeLastLogin, [ROLES], [{ path: 'User.lastLoginAt', reason: 'unused' }]);
      expect(acknowledged).toMatchObject({ problems: [], warnings: [] });
    });
  });

  describe("against the gateway's limits", () => {
    const SIGN_IN = listed('SignIn', 'mutation SignIn($input: LoginInput!) { login(input: $input) { accessToken } }', 'mutation');
    const LIMITS = readOperationLimits({});

    it('fails a change that puts a listed operation over a limit, naming the operation and the setting', async () => {
      const heavier = (schema: string) =>
        schema.replace('login(input: LoginInput!): AuthPayload! @cost(weight: 15000)', 'login(input: LoginInput!): AuthPayload! @cost(weight: 25000)');
      const copy = editedCopy('auth', heavier);
      try {
        const next = compose(copy.config);
        const input = { config: copy.config, committedSupergraph: next.ok ? next.supergraphSdl : '', baseSupergraph: COMMITTED, acknowledged: [] };
        const report = await checkSchema({ ...input, operations: [SIGN_IN, ROLES], limits: LIMITS });
        expect(report.problems).toEqual([
          "Listed operations the gateway's limits would refuse (lighten them in the clients first, or raise the limit):",
          '  "SignIn" (clients/app/persisted-query-manifest.json): Operation refused: its cost is 25000, over the limit of 20000 (MAX_QUERY_COST)',
        ]);
        // Within a raised limit, the same change passes.
        expect((await checkSchema({ ...input, operations: [SIGN_IN], limits: { ...LIMITS, maxCost: 30_000 } })).problems).toEqual([]);
      } finally {
        copy.cleanup();
      }
    });

    it('fails a listed operation over the token limit', async () => {
      const report = await checkEdited('auth', (schema) => schema, [ROLES], [], { ...LIMITS, maxTokens: 5 });
      expect(report.problems).toEqual([
        expect.stringMatching(/^Listed operations the gateway's limits would refuse/),
        expect.stringMatching(/^ {2}"Roles" .*: Syntax Error: Document contains more tha[nt] 5 tokens\. Parsing aborted\. \(MAX_QUERY_TOKENS\)$/),
      ]);
    });
  });

  it('counts an argument made required as breaking the operations that call its field without it, not those that give it, and warns of nothing more', async () => {
    const updates = listed('Updates', 'subscription Updates { paymentUpdated { id status } }', 'subscription');
    // Gives the argument (it was counted as broken too).
    const one = listed('One', 'subscription One { paymentUpdated(id: "5eed0000-0000-4000-8000-000000000001") { id status } }', 'subscription');
    const report = await checkEdited('payments', (schema) => schema.replace('paymentUpdated(id: ID): Payment!', 'paymentUpdated(id: ID!): Payment!'), [
      updates,
      one,
    ]);
    expect(report.problems.filter((line) => line.startsWith('  Subscription.paymentUpdated.id: '))).toEqual([
      expect.stringMatching(/\(used by "Updates" \([^)]*\)\)$/),
    ]);
    expect(report.warnings).toEqual([]);
  });

  it("counts an input object's field made required as breaking the operations that send the object in a variable or leave the field out, not those that give it", async () => {
    const literal = (name: string, description: string) =>
      listed(
        name,
        `mutation ${name} { createPayment(input: { amount: "1.00", currency: "EUR", paymentMethodToken: "tok_visa"${description} }, idempotencyKey: "k") { id } }`,
        'mutation',
      );
    const report = await checkEdited(
      'payments',
      (schema) => schema.replace('  "Up to 500 characters."\n  description: String\n', '  "Up to 500 characters."\n  description: String!\n'),
      [PAY, literal('Gives', ', description: "rent"'), literal('LeavesOut', '')],
    );
    expect(report.problems.filter((line) => line.startsWith('  CreatePaymentInput.description: '))).toEqual([
      expect.stringMatching(/\(used by "Pay" \([^)]*\), "LeavesOut" \([^)]*\)\)$/),
    ]);
    expect(report.warnings).toEqual([]);
  });

  it('names supergraph.yaml and breaking-changes.yaml in one line when they cannot be used, and reads no acknowledgements from a missing file', () => {
    const folder = mkdtempSync(path.join(os.tmpdir(), 'fedstack-config-files-'));
    const file = path.join(folder, 'config.yaml');
    const refusal = (read: (file: string) => unknown, content: string) => {
      writeFileSync(file, content);
      try {
        read(file);
      } catch (error) {
        return { configError: error instanceof ConfigError, message: (error as Error).message.replace(file, 'FILE') };
      }
      return 'accepted';
    };
    try {
      expect(readAcknowledgements(path.join(folder, 'missing.yaml'))).toEqual([]);
      const cases: [(file: string) => unknown, string, string | RegExp][] = [
        [readAcknowledgements, 'acknowledged: [', /^FILE: not YAML \(/],
        [readAcknowledgements, 'acknowledged:\n  User.email: x\n', 'FILE: "acknowledged" must be a list of { path, reason }'],
        [readAcknowledgements, 'acknowledged:\n  - path: User.email\n', 'FILE: acknowledged[0] needs both path and reason, as text'],
        [
          readAcknowledgements,
          'acknowledge:\n  - path: User.email\n    reason: x\n',
          'FILE: unknown key "acknowledge" (the file holds "acknowledged", a list)',
        ],
        [
          readSupergraphConfig,
          'federation_version: =2.14.4\nsubgraphs:\n  auth:\n    routing_url: http://x\n',
          'FILE: subgraph "auth" needs routing_url and schema.file',
        ],
        [readSupergraphConfig, 'federation_version: =2.14.4\nsubgraphs:\n  auth:\n', 'FILE: subgraph "auth" needs routing_url and schema.file'],
        [() => readSupergraphConfig(path.join(folder, 'missing.yaml')), '', /missing\.yaml: cannot be read \(ENOENT/],
      ];
      for (const [read, content, message] of cases) {
        expect({ content, refused: refusal(read, content) }).toEqual({
          content,
          refused: { configError: true, message: typeof message === 'string' ? message : expect.stringMatching(message) },
        });
      }
    } finally {
      rmSync(folder, { recursive: true, force: true });
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

  it("names the file, line and column of a subgraph schema's syntax error (it named the file alone)", () => {
    const copy = editedCopy('payments', (schema) => schema.replace('Decimal!', 'Decimal!!'));
    try {
      const line =
        readFileSync(path.join(REPOSITORY_ROOT, 'subgraphs', 'payments', 'schema.graphql'), 'utf8')
          .split('\n')
          .findIndex((text) => text.includes('Decimal!')) + 1;
      expect(compose(copy.config)).toEqual({
        ok: false,
        errors: [
          expect.stringMatching(new RegExp(`^\\[payments\\] \\S*subgraphs/payments/schema\\.graphql:${line}:\\d+: Syntax Error: Expected Name, found "!"\\.$`)),
        ],
      });
    } finally {
      copy.cleanup();
    }
  });

  it('refuses a federation_version other than the installed composition', () => {
    const result = compose({ ...readSupergraphConfig(CONFIG), federationVersion: '2.3.0' });
    expect(result).toEqual({ ok: false, errors: [expect.stringMatching(/pins federation_version 2\.3\.0, but @apollo\/composition 2\.14\.4 is installed/)] });
  });

  it('fails on a SCHEMA_BASE_REF that names no commit, rather than compare with nothing', () => {
    const run = spawnSync(process.execPath, [path.join(REPOSITORY_ROOT, 'gateway', 'dist', 'cli', 'check-schema.js')], {
      env: { ...process.env, SCHEMA_BASE_REF: 'no-such-ref' },
      encoding: 'utf8',
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('SCHEMA_BASE_REF: "no-such-ref" is no commit of this checkout');
    expect(run.stdout).not.toMatch(/Schema checks passed/);
    expect(() => fileAtRevision(REPOSITORY_ROOT, 'no-such-ref')).toThrow('git has no commit no-such-ref');
    expect(fileAtRevision(REPOSITORY_ROOT, 'HEAD', 'no-such-file.graphql')).toBeNull();
  });

  it('names a manifest it cannot read in one line', () => {
    const folder = mkdtempSync(path.join(os.tmpdir(), 'fedstack-manifest-'));
    try {
      writeFileSync(path.join(folder, 'bad.json'), '{"format":"apollo-persisted-query-manifest","version":1,"operations":[{}]}');
      const run = spawnSync(process.execPath, [path.join(REPOSITORY_ROOT, 'gateway', 'dist', 'cli', 'check-schema.js')], {
        env: { ...process.env, SCHEMA_BASE_REF: 'HEAD', SCHEMA_CHECK_MANIFESTS: path.join(folder, 'bad.json') },
        encoding: 'utf8',
      });
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(/^error: .*bad\.json.*\n$/);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('refuses an option it does not know, in one line, checking nothing', () => {
    const run = spawnSync(process.execPath, [path.join(REPOSITORY_ROOT, 'gateway', 'dist', 'cli', 'check-schema.js'), '--base', 'nosuch'], {
      encoding: 'utf8',
    });
    expect({ status: run.status, stderr: run.stderr, stdout: run.stdout }).toEqual({
      status: 1,
      stderr: "error: check:schema: Unknown option '--base'\n",
      stdout: '',
    });
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
