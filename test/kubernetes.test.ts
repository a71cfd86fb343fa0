import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { SERVICES, type Service } from '@fedstack/runtime';
import { loadServiceConfig, loadSubscriptionLimits } from '@fedstack/service-kit';
import { nodeCommand, nodeOptionsOf, parseDockerfile, processImages } from './dockerfile';
import { loadGatewayConfig } from '../gateway/src/config';
import { loadAuthConfig } from '../subgraphs/auth/src/config';
import { settingsByProcess } from '../tools/src/settings-table';

// The manifests are rendered with `kubectl kustomize` (no cluster needed) and every object is checked
// against the Kubernetes API's schemas (kubernetes-models), then read as the cluster would run it: each
// container's settings go through the configuration code that will read them, with the Secrets the
// overlay makes from the files an operator provides.

const ROOT = path.resolve(__dirname, '..');
const KUSTOMIZE = path.join(ROOT, 'deploy', 'kubernetes');
const hasKubectl = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  type?: string;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}
interface Container {
  name: string;
  image?: string;
  command?: string[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  volumeMounts?: { name: string; mountPath: string }[];
  ports?: { name: string; containerPort: number }[];
  readinessProbe?: { httpGet?: { path: string; port: string | number }; timeoutSeconds?: number };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  lifecycle?: { preStop?: { sleep?: { seconds: number } } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; capabilities?: { drop?: string[] } };
}
interface PodSpec {
  containers: Container[];
  volumes?: { name: string; secret?: { secretName: string; defaultMode?: number }; configMap?: { name: string } }[];
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; fsGroup?: number; seccompProfile?: { type: string } };
  terminationGracePeriodSeconds?: number;
}

/**
 * What the Kubernetes API's schemas (kubernetes-models) refuse in each object, null where they accept
 * it: checked by test/kubernetes-schemas.mjs in a Node.js process of its own, since kubernetes-models is
 * ES modules only, which Jest's CommonJS module system cannot load.
 */
function schemaRefusals(objects: K8sObject[]): (string | null)[] {
  const output = execFileSync(process.execPath, [path.join(__dirname, 'kubernetes-schemas.mjs')], {
    cwd: ROOT,
    input: JSON.stringify(objects),
    encoding: 'utf8',
  });
  return JSON.parse(output) as (string | null)[];
}

/** Renders an overlay as an operator would after providing its files: keys made by the keys job's script, the example env files. */
function render(overlay: string): { objects: K8sObject[]; folder: string } {
  const folder = mkdtempSync(path.join(os.tmpdir(), 'fedstack-k8s-'));
  cpSync(KUSTOMIZE, folder, { recursive: true });
  const overlayFolder = path.join(folder, 'overlays', overlay);
  execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'dist', 'keys.js'), path.join(overlayFolder, 'keys')], { stdio: 'ignore' });
  for (const example of readdirSync(overlayFolder).filter((file) => file.endsWith('.env.example')))
    cpSync(path.join(overlayFolder, example), path.join(overlayFolder, example.replace(/\.example$/, '')));
  const output = execFileSync('kubectl', ['kustomize', overlayFolder], { encoding: 'utf8' });
  return { objects: parseAllDocuments(output).map((document) => document.toJSON() as K8sObject), folder };
}

const podSpecOf = (object: K8sObject) => (object.spec as { template: { spec: PodSpec } }).template.spec;
const envFile = (text: string) =>
  Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string]),
  );
const decoded = (secret: K8sObject) =>
  Object.fromEntries(Object.entries(secret.data ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64').toString('utf8')]));

/** A scrape configuration's relabelling step, as far as deploy/monitoring's files use it. */
interface Relabel {
  source_labels: string[];
  regex?: string;
  action?: 'keep' | 'replace';
  replacement?: string;
  target_label?: string;
}

/** The labels Prometheus gives a target after `rules` (its relabelling: `keep` and `replace`), or null if one drops it. */
function relabel(labels: Record<string, string>, rules: Relabel[]): Record<string, string> | null {
  const result = { ...labels };
  for (const rule of rules) {
    const value = rule.source_labels.map((name) => result[name] ?? '').join(';');
    const match = new RegExp(`^(?:${rule.regex ?? '(.*)'})$`).exec(value);
    if ((rule.action ?? 'replace') === 'keep') {
      if (!match) return null;
    } else if (match && rule.target_label) {
      result[rule.target_label] = (rule.replacement ?? '$1').replace(/\$(\d+)/g, (_whole, group: string) => match[Number(group)] ?? '');
    }
  }
  return result;
}

// Needs nothing but the files: runs with or without kubectl.
describe('Kubernetes manifests', () => {
  it('ship the supergraph the gateway serves', () => {
    expect(readFileSync(path.join(KUSTOMIZE, 'base', 'supergraph.graphql'), 'utf8')).toBe(readFileSync(path.join(ROOT, 'supergraph.graphql'), 'utf8'));
  });
});

(hasKubectl ? describe : describe.skip)('Kubernetes manifests (kubectl kustomize)', () => {
  if (!hasKubectl) console.warn('kubectl is not installed: the rendered Kubernetes manifests are not checked');

  describe.each(readdirSync(path.join(KUSTOMIZE, 'overlays')))('the %s overlay', (overlay) => {
    let objects: K8sObject[];
    let folder: string;
    beforeAll(() => ({ objects, folder } = render(overlay)));
    afterAll(() => rmSync(folder, { recursive: true, force: true }));
    const ofKind = (kind: string) => objects.filter((object) => object.kind === kind);
    const named = (kind: string, name: string) => {
      const found = objects.find((object) => object.kind === kind && object.metadata.name.startsWith(name));
      if (!found) throw new Error(`no ${kind} ${name}`);
      return found;
    };

    it("applies, by docs/operations.md's first step, the migration Job with all it needs and no Deployment (a selector of its own label sent the Job alone)", () => {
      const documented = /kubectl apply -k \S+ --selector '([^']+)'/.exec(readFileSync(path.join(ROOT, 'docs', 'operations.md'), 'utf8'));
      expect(readFileSync(path.join(KUSTOMIZE, 'base', 'migrate.yaml'), 'utf8')).toContain(`--selector '${documented?.[1]}'`);
      // kubectl's set-based `notin`: objects without the label, or with another value.
      const [, key, values] = /^(\S+) notin \(([^)]*)\)$/.exec(documented?.[1] ?? '') ?? [];
      const applied = objects.filter((object) => !values?.split(',').includes(object.metadata.labels?.[key as string] ?? ''));
      const job = named('Job', 'fedstack-migrate');
      const spec = podSpecOf(job);
      const needed = [
        ['Namespace', 'fedstack'],
        ...(spec.containers[0]?.envFrom ?? []).map((source) =>
          source.configMapRef ? ['ConfigMap', source.configMapRef.name] : ['Secret', source.secretRef?.name ?? ''],
        ),
        ...(spec.volumes ?? []).flatMap((volume) =>
          volume.secret ? [['Secret', volume.secret.secretName ?? '']] : volume.configMap ? [['ConfigMap', volume.configMap.name]] : [],
        ),
        ...(overlay === 'cnpg'
          ? [
              ['Cluster', 'fedstack-db'],
              ['Secret', 'fedstack-db-superuser'],
            ]
          : []),
      ];
      expect(needed.length).toBeGreaterThanOrEqual(2);
      const missing = needed.filter(([kind, name]) => !applied.some((object) => object.kind === kind && object.metadata.name === name));
      expect({ job: applied.includes(job), missing, deployments: applied.filter((object) => object.kind === 'Deployment').length }).toEqual({
        job: true,
        missing: [],
        deployments: 0,
      });
    });

    it('renders objects that the Kubernetes API schemas accept', () => {
      expect(objects.length).toBeGreaterThan(20);
      // kustomize breaks long base64 values into lines, which the API server's decoder skips.
      const sent = objects.map((object) =>
        object.kind === 'Secret'
          ? { ...object, data: Object.fromEntries(Object.entries(object.data ?? {}).map(([key, value]) => [key, value.replace(/\s+/g, '')])) }
          : object,
      );
      const refused = schemaRefusals(sent).map((refusal, index) => ({ object: `${objects[index]?.kind} ${objects[index]?.metadata.name}`, refusal }));
      expect(refused.filter(({ refusal }) => refusal !== null)).toEqual([]);
      expect(refused).toHaveLength(objects.length);
      for (const object of objects) {
        if (object.kind !== 'Namespace')
          expect({ object: object.metadata.name, namespace: object.metadata.namespace }).toEqual({ object: object.metadata.name, namespace: 'fedstack' });
      }
    });

    it('runs every process with probes on /readyz and /healthz, resources, an autoscaler and a disruption budget', () => {
      const deployments = ofKind('Deployment');
      expect(deployments.map((deployment) => deployment.metadata.name).sort()).toEqual([...SERVICES, 'gateway'].sort());
      for (const deployment of deployments) {
        const [container] = podSpecOf(deployment).containers;
        const name = deployment.metadata.name;
        expect({ name, ready: container?.readinessProbe?.httpGet?.path, live: container?.livenessProbe?.httpGet?.path }).toEqual({
          name,
          ready: '/readyz',
          live: '/healthz',
        });
        expect({ name, requests: Object.keys(container?.resources?.requests ?? {}), limits: Object.keys(container?.resources?.limits ?? {}) }).toEqual({
          name,
          requests: ['cpu', 'memory'],
          limits: ['memory'],
        });
        // Room for the peaks `npm run bench` measures under the mix (docs/performance.md: at most 176 MB for a
        // subgraph; 175 for a lone gateway in a 512 Mi limit), which a pod's request reserves and its limit holds.
        const mebibytes = (quantity = '') => Number(/^(\d+)Mi$/.exec(quantity)?.[1] ?? Number(/^(\d+)Gi$/.exec(quantity)?.[1] ?? 0) * 1024);
        const [reserved, allowed] = [mebibytes(container?.resources?.requests?.memory), mebibytes(container?.resources?.limits?.memory)];
        expect({ name, reserved: reserved >= 256, allowed: allowed >= 2 * reserved }).toEqual({ name, reserved: true, allowed: true });
        expect((named('HorizontalPodAutoscaler', name).spec as { scaleTargetRef: { name: string } }).scaleTargetRef.name).toBe(name);
        expect((named('PodDisruptionBudget', name).spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels).toEqual(
          (deployment.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels,
        );
      }
    });

    it("sends requests and probes to the port each process listens on, lets it finish what it serves when it stops, and runs it as Pod Security's restricted profile asks", () => {
      for (const deployment of ofKind('Deployment')) {
        const name = deployment.metadata.name;
        const spec = podSpecOf(deployment);
        const container = spec.containers[0] as Container;
        const { env } = environmentOf(deployment);
        const { shutdownGraceMs, port, metricsPort } =
          name === 'gateway' ? loadGatewayConfig(env) : name === 'auth' ? loadAuthConfig(env) : loadServiceConfig(name as Service, env);
        const ports = Object.fromEntries((container.ports ?? []).map((entry) => [entry.name, entry.containerPort]));
        const service = named('Service', name).spec as { ports: { port: number; targetPort: string | number }[] };
        const target = (value: string | number | undefined) => (typeof value === 'string' ? ports[value] : value);
        expect({
          name,
          ports,
          ready: target(container.readinessProbe?.httpGet?.port),
          live: target(container.livenessProbe?.httpGet?.port),
          service: service.ports.map((entry) => ({ port: entry.port, to: target(entry.targetPort) })),
        }).toEqual({ name, ports: { http: port, metrics: metricsPort }, ready: port, live: port, service: [{ port, to: port }] });
        // The subgraphs' readiness check takes up to a second to connect and one to answer.
        expect({ name, timeout: container.readinessProbe?.timeoutSeconds ?? 1 }).toEqual({ name, timeout: name === 'gateway' ? 1 : 3 });
        const waits = container.lifecycle?.preStop?.sleep?.seconds ?? 0;
        expect({ name, waits: waits >= 5, drains: (spec.terminationGracePeriodSeconds ?? 30) >= waits + (2 * shutdownGraceMs) / 1000 }).toEqual({
          name,
          waits: true,
          drains: true,
        });
      }
      for (const workload of [...ofKind('Deployment'), ...ofKind('Job')]) {
        const name = workload.metadata.name;
        const spec = podSpecOf(workload);
        const container = spec.containers[0] as Container;
        expect({ name, pod: spec.securityContext, container: container.securityContext }).toEqual({
          name,
          pod: expect.objectContaining({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } }),
          container: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
        });
        // Key files others may not read are the process's to read through the group the pod gives them.
        for (const volume of spec.volumes ?? []) {
          const mode = volume.secret?.defaultMode ?? 0o644;
          if (volume.secret && (mode & 0o004) === 0)
            expect({ name, volume: volume.name, group: spec.securityContext?.fsGroup, groupReads: (mode & 0o040) !== 0 }).toEqual({
              name,
              volume: volume.name,
              group: expect.any(Number),
              groupReads: true,
            });
        }
      }
    });

    it("runs every process from its own image, its Dockerfile target's, which holds the file it runs", () => {
      const images = processImages(parseDockerfile(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')));
      const workloads = [...ofKind('Deployment'), ...ofKind('Job')];
      expect(workloads.map((workload) => podSpecOf(workload).containers.map(({ name }) => name)).sort()).toEqual(
        [...SERVICES, 'gateway', 'migrate'].sort().map((name) => [name]),
      );
      for (const workload of workloads) {
        const { name, image, command = [] } = podSpecOf(workload).containers[0] as Container;
        // The overlay's `images:` names the registry's copy of each.
        expect({ name, image }).toEqual({ name, image: `registry.example.com/fedstack-${name}:0.1.0` });
        const { program, options, file } = nodeCommand(command);
        expect({ name, program, options, holds: images.get(name)?.built.some((dist) => file.startsWith(`${dist}/`)) }).toEqual({
          name,
          program: 'node',
          options: nodeOptionsOf(name),
          holds: true,
        });
      }
    });

    it('lets only the gateway and the other subgraphs reach a subgraph, and only Prometheus its metrics', () => {
      const policy = named('NetworkPolicy', 'subgraphs-from-the-stack-only').spec as {
        podSelector: { matchLabels: Record<string, string> };
        ingress: { from: { podSelector?: { matchLabels: Record<string, string> }; namespaceSelector?: unknown }[]; ports: { port: string }[] }[];
      };
      expect(policy.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/component': 'subgraph' });
      expect(policy.ingress).toHaveLength(2);
      expect(policy.ingress[0]?.from.map((peer) => peer.podSelector?.matchLabels['app.kubernetes.io/component'])).toEqual(['gateway', 'subgraph']);
      expect(policy.ingress[1]?.ports).toEqual([{ port: 'metrics' }]);
      for (const service of SERVICES) {
        expect(podSpecOf(named('Deployment', service)).containers[0]).toBeDefined();
        expect(named('Deployment', service).spec).toMatchObject({ template: { metadata: { labels: { 'app.kubernetes.io/component': 'subgraph' } } } });
      }
      expect(ofKind('Service').every((service) => (service.spec as { type?: string }).type === undefined)).toBe(true);
    });

    it("is scraped, with deploy/monitoring's Kubernetes configuration, as job fedstack, each pod named by its process, on its metrics port", () => {
      // alerts.yml's ProcessDown reads `up{job="fedstack"}` and names the target's `process`.
      const config = parse(readFileSync(path.join(ROOT, 'deploy', 'monitoring', 'prometheus-kubernetes.yml'), 'utf8')) as {
        scrape_configs: { job_name: string; kubernetes_sd_configs: { role: string; namespaces: { names: string[] } }[]; relabel_configs: Relabel[] }[];
      };
      const [job] = config.scrape_configs;
      expect({ job: job?.job_name, role: job?.kubernetes_sd_configs[0]?.role }).toEqual({ job: 'fedstack', role: 'pod' });
      const targets = ofKind('Deployment').map((deployment) => {
        const template = (deployment.spec as { template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> } } }).template;
        const meta: Record<string, string> = { __address__: '10.1.2.3', __meta_kubernetes_pod_name: `${deployment.metadata.name}-5d8f-x2x9q` };
        for (const [name, value] of Object.entries(template.metadata.labels))
          meta[`__meta_kubernetes_pod_label_${name.replace(/[^a-zA-Z0-9_]/g, '_')}`] = value;
        for (const [name, value] of Object.entries(template.metadata.annotations ?? {}))
          meta[`__meta_kubernetes_pod_annotation_${name.replace(/[^a-zA-Z0-9_]/g, '_')}`] = value;
        const inNamespace = job?.kubernetes_sd_configs[0]?.namespaces.names.includes(deployment.metadata.namespace ?? '') ?? false;
        const labels = inNamespace ? relabel(meta, job?.relabel_configs ?? []) : null;
        return { deployment: deployment.metadata.name, target: labels && { address: labels.__address__, process: labels.process, pod: labels.pod } };
      });
      const port = environmentOf(named('Deployment', 'gateway')).env.METRICS_PORT;
      expect(targets.sort((a, b) => a.deployment.localeCompare(b.deployment))).toEqual(
        [...SERVICES, 'gateway']
          .sort()
          .map((name) => ({ deployment: name, target: { address: `10.1.2.3:${port}`, process: name, pod: `${name}-5d8f-x2x9q` } })),
      );
    });

    it('mounts the supergraph as a directory, so that an update reaches the running gateway', () => {
      const configMap = named('ConfigMap', 'fedstack-supergraph');
      expect(configMap.metadata.name).toBe('fedstack-supergraph');
      expect(configMap.data?.['supergraph.graphql']).toBe(readFileSync(path.join(ROOT, 'supergraph.graphql'), 'utf8'));
      const mount = podSpecOf(named('Deployment', 'gateway')).containers[0]?.volumeMounts?.find((entry) => entry.name === 'supergraph') as { subPath?: string };
      expect(mount).toMatchObject({ mountPath: '/supergraph' });
      expect(mount.subPath).toBeUndefined();
    });

    /** A container's environment as the cluster gives it, with key files at the paths the test wrote them to. */
    function environmentOf(deployment: K8sObject): { env: NodeJS.ProcessEnv; keys: Record<string, string> } {
      const spec = podSpecOf(deployment);
      const container = spec.containers[0] as Container;
      const env: NodeJS.ProcessEnv = {};
      for (const source of container.envFrom ?? []) {
        if (source.configMapRef) Object.assign(env, named('ConfigMap', source.configMapRef.name).data);
        if (source.secretRef) Object.assign(env, decoded(named('Secret', source.secretRef.name)));
      }
      for (const variable of container.env ?? []) {
        const ref = variable.valueFrom?.secretKeyRef;
        env[variable.name] = ref ? decoded(named('Secret', ref.name))[ref.key] : variable.value;
      }
      const keyVolume = spec.volumes?.find((volume) => volume.name === 'keys');
      const keys = keyVolume?.secret ? decoded(named('Secret', keyVolume.secret.secretName)) : {};
      // The files a `_FILE` setting names are in the Secret mounted at /keys: inline them instead.
      for (const [name, value] of Object.entries(env)) {
        if (name.endsWith('_FILE') && value?.startsWith('/keys/')) {
          delete env[name];
          env[name.slice(0, -'_FILE'.length)] = keys[path.basename(value)];
        }
      }
      return { env, keys };
    }

    it('gives every process settings its configuration accepts, its own keys and its own database connection', () => {
      const migrate = envFile(readFileSync(path.join(KUSTOMIZE, 'overlays', overlay, 'migrate.env.example'), 'utf8'));
      for (const service of SERVICES) {
        const { env, keys } = environmentOf(named('Deployment', service));
        const config = service === 'auth' ? loadAuthConfig(env) : loadServiceConfig(service, env);
        if (service === 'auth') {
          // Every replica of auth keys its throttle counters with the one secret the overlay's Secret holds.
          expect((config as ReturnType<typeof loadAuthConfig>).throttleKeys).toEqual({
            secret: { value: keys['throttle-key-secret'], setting: 'THROTTLE_KEY_SECRET' },
          });
        }
        expect({ service, production: config.production, internal: Boolean(config.internal.privateKey), gateway: config.gateway }).toEqual({
          service,
          production: true,
          internal: true,
          gateway: { required: true, publicKey: { value: keys['gateway-public.pem'], setting: 'GATEWAY_PUBLIC_KEY' } },
        });
        const url = new URL(config.databaseUrl);
        expect({ service, user: url.username }).toEqual({ service, user: `${service}_svc` });
        // The role's password is the one the migration Job gives the role.
        expect({ service, password: decodeURIComponent(url.password) }).toEqual({ service, password: migrate[`${service.toUpperCase()}_DB_PASSWORD`] });
        expect(Object.keys(env).some((name) => name === 'DATABASE_URL')).toBe(false);
      }
      const gateway = loadGatewayConfig(environmentOf(named('Deployment', 'gateway')).env);
      expect({ production: gateway.production, key: Boolean(gateway.assertionKey), urls: gateway.subgraphUrls }).toEqual({
        production: true,
        key: true,
        urls: Object.fromEntries(SERVICES.map((service, index) => [service, `http://${service}:${4001 + index}/graphql`])),
      });
      const hosts = new Set(SERVICES.map((service) => new URL(migrate[`${service.toUpperCase()}_DATABASE_URL`] ?? migrate.DATABASE_URL ?? '').host));
      expect(hosts.size).toBe(overlay === 'split' ? 4 : 1);
    });

    // The settings ConfigMap is every process's, and holds some that only one reads.
    it('sets no variable that no process reads: a misspelt setting is ignored, as if it were not there', () => {
      const read = new Set(settingsByProcess().flatMap(({ settings }) => Object.keys(settings)));
      const unread = ofKind('Deployment').flatMap((deployment) =>
        Object.keys(environmentOf(deployment).env)
          .filter((variable) => !read.has(variable))
          .map((variable) => `${deployment.metadata.name}: ${variable}`),
      );
      expect(unread).toEqual([]);
    });

    // Measured with the manifests' flags (a review, 2026-12-08): payments 33 MB of heap at rest and about
    // 10.7 kB more per subscription, out of heap at about 9,000 under a 128 MB heap; a gateway pod about 44
    // kB per subscriber with its WebSocket, 57 MB of heap at rest. A fifth of each heap is left to requests.
    it('bounds the subscriptions of each process inside the heap it gives it (payments ran out at the defaults, ending every subscription)', () => {
      const heapMbOf = (deployment: K8sObject) => {
        const { options } = nodeCommand((podSpecOf(deployment).containers[0] as Container).command ?? []);
        const flag = options.find((option) => option.startsWith('--max-old-space-size='));
        return flag ? Number(flag.split('=')[1]) : undefined;
      };
      for (const name of ['payments', 'admin'] as const) {
        const deployment = named('Deployment', name);
        const { maxPerProcess } = loadSubscriptionLimits(environmentOf(deployment).env);
        const neededMb = 33 + (maxPerProcess * 10.7) / 1000;
        expect({ name, maxPerProcess, fits: neededMb <= (heapMbOf(deployment) ?? 0) * 0.8 }).toEqual({ name, maxPerProcess, fits: true });
      }
      // A gateway pod holds at most one connection's worth of subscriptions to each (admin's are few: admins').
      const gateway = named('Deployment', 'gateway');
      const { maxPerConnection } = loadSubscriptionLimits(environmentOf(named('Deployment', 'payments')).env);
      const limitMi = Number(/^(\d+)Mi$/.exec(String((podSpecOf(gateway).containers[0] as Container).resources?.limits?.memory))?.[1]);
      // V8 sizes a container's heap at half its memory limit.
      expect({ maxPerConnection, fits: 57 + (maxPerConnection * 44) / 1000 <= (limitMi / 2) * 0.8 }).toEqual({ maxPerConnection, fits: true });
    });

    // The Cluster's fields are checked against CloudNativePG's own CRD schema above (offline, from
    // @kubernetes-models/cloudnative-pg); here, what this project relies on them for.
    if (overlay === 'cnpg')
      it('runs PostgreSQL as a CloudNativePG Cluster of three with synchronous replication: services write through its -rw Service and read through -ro', () => {
        const cluster = named('Cluster', 'fedstack-db');
        expect(cluster.apiVersion).toBe('postgresql.cnpg.io/v1');
        expect(cluster.spec).toMatchObject({
          instances: 3,
          postgresql: { synchronous: { method: 'any', number: 1, dataDurability: 'required' } },
          enableSuperuserAccess: true,
          superuserSecret: { name: 'fedstack-db-superuser' },
          bootstrap: { initdb: { database: 'fedstack' } },
        });
        const host = (url: string) => new URL(url).hostname;
        for (const service of SERVICES) {
          const config = loadServiceConfig(service, environmentOf(named('Deployment', service)).env);
          expect({ service, primary: host(config.databaseUrl), replicas: config.replicas.map((replica) => host(replica.url)) }).toEqual({
            service,
            primary: 'fedstack-db-rw',
            replicas: ['fedstack-db-ro'],
          });
        }
        // The migration Job connects as the owner whose password the operator gives the postgres role.
        const migrate = envFile(readFileSync(path.join(KUSTOMIZE, 'overlays', overlay, 'migrate.env.example'), 'utf8'));
        const superuser = decoded(named('Secret', 'fedstack-db-superuser'));
        const owner = new URL(migrate.DATABASE_URL ?? '');
        expect({ host: owner.hostname, user: owner.username, password: owner.password }).toEqual({
          host: 'fedstack-db-rw',
          user: superuser.username,
          password: superuser.password,
        });
        expect(named('Secret', 'fedstack-db-superuser').type).toBe('kubernetes.io/basic-auth');
      });

    if (overlay === 'cnpg')
      it("sets none of the operator's own parameters (it refused the Cluster: shared_preload_libraries under parameters), and has room for every connection at the autoscalers' maximum", () => {
        const postgresql = (
          named('Cluster', 'fedstack-db').spec as { postgresql: { parameters?: Record<string, string>; shared_preload_libraries?: string[] } }
        ).postgresql;
        // Some of CloudNativePG's FixedConfigurationParameters (pkg/postgres/configuration.go), which its webhook refuses.
        const fixed = [
          'shared_preload_libraries',
          'listen_addresses',
          'port',
          'wal_level',
          'hot_standby',
          'archive_mode',
          'archive_command',
          'primary_conninfo',
        ];
        expect(Object.keys(postgresql.parameters ?? {}).filter((name) => fixed.includes(name))).toEqual([]);
        expect(postgresql.shared_preload_libraries).toContain('pg_stat_statements');
        // docs/operations.md, "Connection budget": each pool and its checks' connection, the relays' 5 (auth, payments), the LISTENs (payments, admin), migrations and an operator.
        const most = (service: string) => (named('HorizontalPodAutoscaler', service).spec as { maxReplicas: number }).maxReplicas;
        const pool = (service: string) => Number(environmentOf(named('Deployment', service)).env.DB_POOL_SIZE ?? 10);
        const needed =
          SERVICES.reduce((sum, service) => sum + most(service) * (pool(service) + 1), 0) +
          (most('auth') + most('payments')) * 5 +
          most('payments') +
          most('admin') +
          2;
        expect({ needed, fits: needed <= Number(postgresql.parameters?.max_connections ?? 100) - 3 }).toEqual({ needed, fits: true });
      });
  });
});
