import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_PORTS, REPOSITORY_ROOT, SERVICES, STACK, defaultSubgraphUrl, type StackProcessName } from '@fedstack/runtime';
import { parse } from 'yaml';

// The stack's processes, names and ports are declared once, in @fedstack/runtime's STACK; the launcher and
// the configurations read it. The files that cannot import it are checked against it here.

const read = (file: string) => readFileSync(path.join(REPOSITORY_ROOT, file), 'utf8');
const isProcess = (name: string): name is StackProcessName => STACK.some((entry) => entry.name === name);

interface ComposeService {
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  ports?: string[];
}

describe('the stack, declared once', () => {
  it('lists the processes whose entry points the workspaces build; a subgraph is one under subgraphs/', () => {
    for (const { name, entry, subgraph } of STACK) {
      const source = entry.replace('/dist/', '/src/').replace(/\.js$/, '.ts');
      expect({ name, source, exists: existsSync(path.join(REPOSITORY_ROOT, source)) }).toEqual({ name, source, exists: true });
      expect({ name, subgraph }).toEqual({ name, subgraph: entry.startsWith(`subgraphs/${name}/`) });
    }
  });

  it("gives each service a Prisma schema, and the Prisma CLI's launcher the same services", async () => {
    const { CLI_SERVICES } = (await import(path.join(REPOSITORY_ROOT, 'shared-db', 'src', 'prisma-workarounds.js'))) as { CLI_SERVICES: string[] };
    expect(CLI_SERVICES).toEqual([...SERVICES]);
    for (const service of SERVICES) expect(existsSync(path.join(REPOSITORY_ROOT, 'shared-db', 'prisma', service, 'schema.prisma'))).toBe(true);
  });

  it('builds every package from the root tsconfig.json, its tests too (a subgraph missing there was never built: npm start found no dist/main.js)', () => {
    const { workspaces } = JSON.parse(read('package.json')) as { workspaces: string[] };
    const { references } = JSON.parse(read('tsconfig.json').replace(/^\/\/.*$/gm, '')) as { references: { path: string }[] };
    const built = references.map((reference) => reference.path);
    for (const workspace of workspaces)
      expect({ workspace, built: [workspace, `${workspace}/tsconfig.test.json`].filter((entry) => built.includes(entry)) }).toEqual({
        workspace,
        built: [workspace, `${workspace}/tsconfig.test.json`],
      });
    for (const service of SERVICES) expect(workspaces).toContain(`subgraphs/${service}`);
  });

  it('gives every package a Jest project, so that its tests run', async () => {
    const { workspaces } = JSON.parse(read('package.json')) as { workspaces: string[] };
    const { projects } = (await import(path.join(REPOSITORY_ROOT, 'jest.config.js'))) as { projects: { displayName: string; roots: string[] }[] };
    for (const workspace of workspaces) {
      expect(projects.find((project) => project.displayName === path.basename(workspace))?.roots).toEqual([`<rootDir>/${workspace}/src`]);
    }
  });

  it('supergraph.yaml composes the four services, each at its default URL, from its own SDL', () => {
    const { subgraphs } = parse(read('supergraph.yaml')) as { subgraphs: Record<string, { routing_url: string; schema: { file: string } }> };
    expect(Object.keys(subgraphs)).toEqual([...SERVICES]);
    for (const service of SERVICES) {
      expect(subgraphs[service]).toEqual({ routing_url: defaultSubgraphUrl(service), schema: { file: `./subgraphs/${service}/schema.graphql` } });
    }
  });

  describe.each(['docker-compose.yml', 'docker-compose.split.yml'])('%s', (file) => {
    const { services } = parse(read(file), { merge: true }) as { services: Record<string, ComposeService> };

    it('runs each process from its entry point, on its port, with a healthcheck on that port', () => {
      for (const [name, service] of Object.entries(services).filter(([name]) => isProcess(name))) {
        const { entry, nodeOptions } = STACK.find((process) => process.name === name) as (typeof STACK)[number];
        const port = DEFAULT_PORTS[name as StackProcessName];
        if (service.command) expect({ name, command: service.command }).toEqual({ name, command: ['node', ...nodeOptions, entry] });
        const portSetting = service.environment?.[`${name.toUpperCase()}_PORT`];
        if (portSetting !== undefined) expect({ name, port: Number(portSetting) }).toEqual({ name, port });
        if (service.healthcheck) expect(service.healthcheck.test.join(' ')).toContain(`127.0.0.1:${port}/readyz`);
      }
      if (file === 'docker-compose.yml') expect(Object.keys(services).filter(isProcess).sort()).toEqual(STACK.map(({ name }) => name).sort());
    });

    it('addresses every process by its name and port', () => {
      // Any URL naming one of the processes as its host must use that process's port.
      const addresses = [...read(file).matchAll(/https?:\/\/([a-z-]+):(\d+)/g)].filter(([, host]) => isProcess(host as string));
      if (file === 'docker-compose.yml') expect(addresses.length).toBeGreaterThan(0);
      for (const [url, host, port] of addresses) expect({ url, port: Number(port) }).toEqual({ url, port: DEFAULT_PORTS[host as StackProcessName] });
    });
  });

  it('the docs name each process with its own port', () => {
    const docs = [
      'README.md',
      ...readdirSync(path.join(REPOSITORY_ROOT, 'docs'))
        .filter((name) => name.endsWith('.md'))
        .map((name) => `docs/${name}`),
    ];
    const ports = new Set(Object.values(DEFAULT_PORTS));
    for (const doc of docs) {
      const text = read(doc);
      // "gateway :4000", "auth:4001", "http://profile:4002/…"
      for (const [mention, name, port] of text.matchAll(/(?<![\w-])(gateway|auth|profile|payments|admin)\s?:(\d{4})\b/g)) {
        expect({ doc, mention, port: Number(port) }).toEqual({ doc, mention, port: DEFAULT_PORTS[name as StackProcessName] });
      }
      // Local addresses in the 4000s are the stack's ports.
      for (const [mention, port] of text.matchAll(/(?:127\.0\.0\.1|localhost):(40\d\d)\b/g)) {
        expect({ doc, mention, known: ports.has(Number(port)) }).toEqual({ doc, mention, known: true });
      }
    }
  });
});
