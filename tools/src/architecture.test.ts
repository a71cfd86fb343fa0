import { builtinModules } from 'node:module';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { REPOSITORY_ROOT } from '@fedstack/runtime';
import ts from 'typescript';
import { ALLOWED_DEPENDENCIES } from './architecture';

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

const { workspaces } = JSON.parse(readFileSync(path.join(REPOSITORY_ROOT, 'package.json'), 'utf8')) as { workspaces: string[] };
const manifest = (workspace: string) => JSON.parse(readFileSync(path.join(REPOSITORY_ROOT, workspace, 'package.json'), 'utf8')) as Manifest;
const workspaceOf = new Map(workspaces.map((workspace) => [manifest(workspace).name, workspace]));
const builtins = new Set(builtinModules);

/** The workspace's own TypeScript and JavaScript, tests included (generated code aside). */
function sourcesOf(workspace: string): string[] {
  const root = path.join(REPOSITORY_ROOT, workspace, 'src');
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && /\.(ts|js)$/.test(entry.name) && !entry.parentPath.includes(`${path.sep}generated`))
    .map((entry) => path.join(entry.parentPath, entry.name));
}

/** Folders whose files nobody writes by hand: installed packages, build output, generated code, migrations. */
const NOT_HAND_WRITTEN = new Set(['node_modules', 'dist', 'generated', 'migrations']);

/** The workspace's hand-written source, anywhere in it: its TypeScript and JavaScript, tests and declarations aside. */
function handWrittenSourcesOf(workspace: string): string[] {
  const walk = (folder: string): string[] =>
    readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
      const file = path.join(folder, entry.name);
      if (entry.isDirectory()) return NOT_HAND_WRITTEN.has(entry.name) ? [] : walk(file);
      return entry.isFile() && /\.(ts|js|mjs|cjs)$/.test(entry.name) && !/\.(test|d)\.[cm]?[jt]s$/.test(entry.name) ? [file] : [];
    });
  return walk(path.join(REPOSITORY_ROOT, workspace));
}

/** What may come before a file's own comment: `'use strict'`, and directives to tools (`// @ts-check`, eslint's), which say nothing of the file. */
const PRELUDE = /^(['"]use strict['"];?|\/\/ *(@ts-|eslint-).*|\/\* *eslint-.*\*\/)\s*$/;

/** Whether a file's first line is a comment, after its `#!` line and its prelude. */
function startsWithComment(text: string): boolean {
  const lines = text.split('\n');
  let first = lines[0]?.startsWith('#!') ? 1 : 0;
  while (PRELUDE.test(lines[first] ?? '')) first += 1;
  return /^(\/\/|\/\*)/.test(lines[first] ?? '');
}

/** Every module a file imports or requires, as written. */
function importsOf(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push(node.moduleSpecifier.text);
    } else if (
      ts.isCallExpression(node) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require')) &&
      node.arguments[0] &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      found.push(node.arguments[0].text);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push(node.argument.literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`. */
const packageOf = (specifier: string) =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');

describe('package dependencies', () => {
  it('has a rule for every workspace', () => {
    expect(Object.keys(ALLOWED_DEPENDENCIES).sort()).toEqual([...workspaces].sort());
  });

  describe.each(workspaces)('%s', (workspace) => {
    const allowed = ALLOWED_DEPENDENCIES[workspace] ?? [];
    const { dependencies = {}, devDependencies = {} } = manifest(workspace);
    const declared = new Set([...Object.keys(dependencies), ...Object.keys(devDependencies)]);
    const ownWorkspaces = [...declared].filter((name) => workspaceOf.has(name)).map((name) => workspaceOf.get(name) as string);

    it('declares only the workspaces its layer may use', () => {
      expect(ownWorkspaces.filter((dependency) => !allowed.includes(dependency))).toEqual([]);
    });

    it('imports only what it declares, and nothing outside itself by path', () => {
      const problems = sourcesOf(workspace).flatMap((file) =>
        importsOf(file).flatMap((specifier) => {
          const where = `${path.relative(REPOSITORY_ROOT, file)}: ${specifier}`;
          if (specifier.startsWith('.')) {
            const target = path.resolve(path.dirname(file), specifier);
            return target.startsWith(path.join(REPOSITORY_ROOT, workspace) + path.sep) ? [] : [`${where} (reaches outside ${workspace})`];
          }
          if (specifier.startsWith('node:') || builtins.has(specifier)) return [];
          return declared.has(packageOf(specifier)) ? [] : [`${where} (not in ${workspace}/package.json)`];
        }),
      );
      expect(problems).toEqual([]);
    });

    it('references exactly the workspaces it depends on, so that `tsc -b` builds it alone', () => {
      const configFile = path.join(REPOSITORY_ROOT, workspace, 'tsconfig.json');
      const { config } = ts.readConfigFile(configFile, (file) => ts.sys.readFile(file)) as { config: { references?: { path: string }[] } };
      const references = (config.references ?? []).map((reference) => path.relative(REPOSITORY_ROOT, path.resolve(path.dirname(configFile), reference.path)));
      expect(references.sort()).toEqual([...ownWorkspaces].sort());
      const testConfig = path.join(REPOSITORY_ROOT, workspace, 'tsconfig.test.json');
      if (existsSync(testConfig)) {
        const test = ts.readConfigFile(testConfig, (file) => ts.sys.readFile(file)).config as { references?: { path: string }[] };
        const testReferences = (test.references ?? []).map((reference) =>
          path.relative(REPOSITORY_ROOT, path.resolve(path.dirname(testConfig), reference.path)),
        );
        expect(testReferences.sort()).toEqual([...ownWorkspaces].sort());
      }
    });
  });

  it('forms no cycle', () => {
    const visiting = new Set<string>();
    const done = new Set<string>();
    const cycles: string[] = [];
    const visit = (workspace: string, trail: string[]) => {
      if (done.has(workspace)) return;
      if (visiting.has(workspace)) {
        cycles.push([...trail, workspace].join(' → '));
        return;
      }
      visiting.add(workspace);
      for (const next of ALLOWED_DEPENDENCIES[workspace] ?? []) visit(next, [...trail, workspace]);
      visiting.delete(workspace);
      done.add(workspace);
    };
    for (const workspace of workspaces) visit(workspace, []);
    expect(cycles).toEqual([]);
  });

  it("keeps the example client's page to what a browser runs: nothing of Node's, no workspace of ours", () => {
    const page = sourcesOf('clients/web').filter((file) => file.includes(`${path.sep}page${path.sep}`));
    expect(page.length).toBeGreaterThan(0);
    const problems = page.flatMap((file) =>
      importsOf(file)
        .filter((specifier) => specifier.startsWith('node:') || builtins.has(specifier) || workspaceOf.has(packageOf(specifier)))
        .map((specifier) => `${path.relative(REPOSITORY_ROOT, file)}: ${specifier}`),
    );
    expect(problems).toEqual([]);
  });

  it('keeps Prisma and argon2 out of the gateway entirely, not just out of its imports', () => {
    const reachable = new Set<string>();
    const walk = (name: string) => {
      if (reachable.has(name)) return;
      reachable.add(name);
      const workspace = workspaceOf.get(name);
      const file = workspace
        ? path.join(REPOSITORY_ROOT, workspace, 'package.json')
        : require.resolve(`${name}/package.json`, { paths: [path.join(REPOSITORY_ROOT, 'gateway')] });
      const { dependencies = {} } = JSON.parse(readFileSync(file, 'utf8')) as Manifest;
      for (const dependency of Object.keys(dependencies)) {
        try {
          walk(dependency);
        } catch {
          // An optional dependency for another platform, not installed here.
        }
      }
    };
    walk('@fedstack/gateway');
    expect([...reachable].filter((name) => /prisma|argon2|^pg$|@fedstack\/(shared-db|service-kit)/.test(name))).toEqual([]);
  });
});

describe('hand-written source files', () => {
  const MAX_LINES = 300;
  const files = workspaces.flatMap(handWrittenSourcesOf).map((file) => ({
    name: path.relative(REPOSITORY_ROOT, file),
    text: readFileSync(file, 'utf8'),
  }));

  it('each start with a comment saying the one thing the file does', () => {
    expect(files.filter((file) => !startsWithComment(file.text)).map((file) => file.name)).toEqual([]);
  });

  it(`are each ${MAX_LINES} lines at most`, () => {
    const lineCount = (text: string) => text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    expect(files.filter((file) => lineCount(file.text) > MAX_LINES).map((file) => `${file.name} (${lineCount(file.text)} lines)`)).toEqual([]);
  });
});

describe('the database commands (npm run db:*)', () => {
  const { scripts } = JSON.parse(readFileSync(path.join(REPOSITORY_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  it.each(['db:migrate', 'db:seed', 'db:prisma', 'db:split'])(
    "%s builds only shared-db, its output off stdout: CONTRIBUTING writes db:prisma's stdout into a migration, and a subgraph mid-change failed the whole build into it",
    (command) => {
      expect(scripts[command]).toMatch(/^npm run -s build:db 1>&2 && node shared-db\/dist\/cli\/db\.js /);
      expect(scripts['build:db']).toMatch(/&& tsc -b shared-db$/);
    },
  );
});
