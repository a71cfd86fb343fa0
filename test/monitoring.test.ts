import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { graphql } from '@fedstack/service-kit/testing';
import { demoAdmin, pay } from './clients';
import { startStack, type RunningStack } from './stack';

// The dashboard and the alert rules are checked against what the stack really exports: a running stack
// is scraped, and every metric a query names must be among the metrics it serves.

const ROOT = path.resolve(__dirname, '..');
const MONITORING = path.join(ROOT, 'deploy', 'monitoring');
const read = (file: string) => readFileSync(path.join(MONITORING, file), 'utf8');

/** PromQL's own words: functions, aggregations, keywords; anything else that is not a label or a number names a metric. */
const PROMQL_WORDS = new Set([
  'sum',
  'max',
  'min',
  'avg',
  'count',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'inf',
  'nan',
  'le',
]);

/** The metric names a PromQL expression reads. */
export function metricsIn(expression: string): string[] {
  const stripped = expression
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const names = new Set<string>();
  for (const match of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*(?!\s*\()/g)) {
    const word = match[0];
    const index = match.index ?? 0;
    // A function name is followed by "(" (the lookahead may stop part-way through a word).
    if (/^\s*\(/.test(stripped.slice(index + word.length))) continue;
    // Part of a longer word (the lookahead stopped short of a function's name).
    if (/[A-Za-z0-9_:]/.test(stripped[index - 1] ?? '') || /[A-Za-z0-9_:]/.test(stripped[index + word.length] ?? '')) continue;
    if (!PROMQL_WORDS.has(word.toLowerCase()) && !/^\d/.test(word)) names.add(word);
  }
  return [...names];
}

/** PromQL's aggregation operators. */
const AGGREGATIONS = ['sum', 'max', 'min', 'avg', 'count', 'group', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'limitk', 'limit_ratio'];

/** An aggregation in an expression: its operator, the labels it keeps (`by`; undefined for `without` or none), and where its argument is. */
interface Aggregation {
  operator: string;
  by: string[] | undefined;
  /** The offsets of its argument's parentheses. */
  open: number;
  close: number;
}

/** `expression` with each quoted string blanked, at the same length: label values say nothing of its structure. */
const withoutStrings = (expression: string) => expression.replace(/"(?:[^"\\]|\\.)*"/g, (quoted) => `"${' '.repeat(quoted.length - 2)}"`);

/** Every aggregation in a PromQL expression, in the leading form (`max by (a) (…)`), the only one the files use. */
function aggregationsIn(expression: string): Aggregation[] {
  const text = withoutStrings(expression);
  const head = new RegExp(`\\b(${AGGREGATIONS.join('|')})\\s*(?:(by|without)\\s*\\(([^)]*)\\)\\s*)?\\(`, 'g');
  return [...text.matchAll(head)].map((match) => {
    const open = (match.index ?? 0) + match[0].length - 1;
    let depth = 0;
    let close = open;
    for (let index = open; index < text.length; index += 1) {
      if (text[index] === '(') depth += 1;
      if (text[index] === ')' && (depth -= 1) === 0) {
        close = index;
        break;
      }
    }
    if (/^\s*(by|without)\b/.test(text.slice(close + 1))) throw new Error(`the trailing form of grouping is not read here: ${expression}`);
    const by =
      match[2] === 'by'
        ? (match[3] ?? '')
            .split(',')
            .map((label) => label.trim())
            .filter(Boolean)
        : undefined;
    return { operator: match[1] ?? '', by, open, close };
  });
}

/** Each read of a metric whose name `matches`: its label matchers (`{…}`, or ''), and the aggregations around it, innermost first. */
export function readsIn(expression: string, matches: (metric: string) => boolean): { metric: string; selector: string; around: Aggregation[] }[] {
  const text = withoutStrings(expression);
  const aggregations = aggregationsIn(expression);
  return [...text.matchAll(/(?<![\w:])([A-Za-z_:][\w:]*)(?![\w:]|\s*\()/g)]
    .filter((match) => matches(match[1] ?? ''))
    .map((match) => ({
      metric: match[1] ?? '',
      selector: /^\s*(\{[^}]*\})/.exec(expression.slice((match.index ?? 0) + (match[1] ?? '').length))?.[1] ?? '',
      around: aggregations.filter(({ open, close }) => open < (match.index ?? 0) && (match.index ?? 0) < close).sort((inner, outer) => outer.open - inner.open),
    }));
}

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
/** A scrape configuration, as far as these checks read it. */
interface ScrapeConfig {
  job_name: string;
  static_configs?: { targets: string[]; labels?: Record<string, string> }[];
  dns_sd_configs?: { names: string[]; type: string; port: number }[];
  relabel_configs?: Record<string, unknown>[];
}
interface Panel {
  title: string;
  datasource: { uid: string };
  targets: { expr: string; datasource: { uid: string } }[];
}

const alertRules = () => (parse(read('alerts.yml')) as { groups: { rules: Rule[] }[] }).groups.flatMap((group) => group.rules);

/** Whether an alert whose expression ends in a comparison with a number fires on `value`. */
function firesOn(expression: string, value: number): boolean {
  const [, operator, threshold] = /(==|!=|>=|<=|>|<)\s*(-?[\d.]+(?:e[+-]?\d+)?)\s*$/.exec(expression.trim()) ?? [];
  const limit = Number(threshold);
  const outcomes: Record<string, boolean> = {
    '==': value === limit,
    '!=': value !== limit,
    '>=': value >= limit,
    '<=': value <= limit,
    '>': value > limit,
    '<': value < limit,
  };
  const fires = outcomes[operator ?? ''];
  if (fires === undefined) throw new Error(`no comparison with a number ends "${expression}"`);
  return fires;
}

const dashboardPanels = () => (JSON.parse(read('grafana/dashboards/fedstack.json')) as { panels: Panel[] }).panels;

/** Every PromQL expression of the rules and the dashboard, named by where it is. */
const expressions = () => [
  ...alertRules().map((rule) => ({ where: `alert ${rule.alert}`, expr: rule.expr })),
  ...dashboardPanels().flatMap((panel) => panel.targets.map((target) => ({ where: `panel "${panel.title}"`, expr: target.expr }))),
];

// What the expressions compute, read from the files alone.
describe('monitoring: what the rules and the dashboard compute', () => {
  it('reads the aggregations around each metric, innermost first', () => {
    const reads = readsIn('sum by (schema) (max by (schema, table) (rate(pg_a{x="pg_b"}[5m]) + pg_c)) / ignoring (le) max(pg_d)', (metric) =>
      metric.startsWith('pg_'),
    );
    expect(reads.map(({ metric, around }) => ({ metric, around: around.map(({ operator, by }) => ({ operator, by })) }))).toEqual([
      {
        metric: 'pg_a',
        around: [
          { operator: 'max', by: ['schema', 'table'] },
          { operator: 'sum', by: ['schema'] },
        ],
      },
      {
        metric: 'pg_c',
        around: [
          { operator: 'max', by: ['schema', 'table'] },
          { operator: 'sum', by: ['schema'] },
        ],
      },
      { metric: 'pg_d', around: [{ operator: 'max', by: undefined }] },
    ]);
  });

  it("count each process's operations and errors apart: the gateway counts again every error a subgraph raised and it passed on", () => {
    const reads = expressions().flatMap(({ where, expr }) =>
      readsIn(expr, (name) => name.startsWith('graphql_')).map((read) => ({ where, ...read, first: read.around[0] })),
    );
    expect(reads.length).toBeGreaterThan(0);
    const apart = ({ selector, first }: (typeof reads)[number]) =>
      /\bservice="[^"]+"/.test(selector) || first === undefined || first.by?.includes('service') === true;
    expect(
      reads
        .filter((read) => !apart(read))
        .map(({ where, metric, first }) => `${where}: ${metric} under ${first?.operator} by (${first?.by?.join(', ') ?? '?'})`),
    ).toEqual([]);
  });

  it('are loaded by the compose profile, which scrapes every process on its metrics port, every replica of those that have several', () => {
    const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
      services: Record<string, { volumes?: string[]; environment?: Record<string, string>; deploy?: { replicas?: number } }>;
    };
    expect(compose.services.prometheus?.volumes).toEqual([
      './deploy/monitoring/prometheus.yml:/etc/prometheus/prometheus.yml:ro',
      './deploy/monitoring/alerts.yml:/etc/prometheus/alerts.yml:ro',
    ]);
    expect(compose.services.grafana?.volumes).toEqual([
      './deploy/monitoring/grafana/provisioning:/etc/grafana/provisioning:ro',
      './deploy/monitoring/grafana/dashboards:/var/lib/grafana/dashboards:ro',
    ]);
    const prometheus = parse(read('prometheus.yml')) as { rule_files: string[]; scrape_configs: ScrapeConfig[] };
    expect(prometheus.rule_files).toEqual(['/etc/prometheus/alerts.yml']);
    // One job, which ProcessDown and the rest name.
    expect(prometheus.scrape_configs.map((config) => config.job_name)).toEqual(['fedstack']);
    const [job] = prometheus.scrape_configs;
    const exporting = Object.entries(compose.services).filter(([, service]) => service.environment?.METRICS_PORT !== undefined);
    expect(exporting.map(([name]) => name).sort()).toEqual(['admin', 'auth', 'gateway', 'payments', 'profile']);
    // A static target is one address: Docker's DNS answers a service's name with one replica's at a time, so
    // a service with several is found by DNS (every replica's address) and each is scraped. One replica
    // stays a static target, whose scrape failing (up == 0) says it is down, where DNS would drop it.
    const scraped = exporting.map(([name, service]) => {
      const port = Number(service.environment?.METRICS_PORT);
      const byDns = job?.dns_sd_configs?.some((entry) => entry.type === 'A' && entry.port === port && entry.names.includes(name)) ?? false;
      const statically = job?.static_configs?.some((entry) => entry.targets.includes(`${name}:${port}`) && entry.labels?.process === name) ?? false;
      return { name, replicas: service.deploy?.replicas ?? 1, byDns, statically };
    });
    expect(scraped).toEqual(scraped.map(({ name, replicas }) => ({ name, replicas, byDns: replicas > 1, statically: replicas === 1 })));
    // Found by DNS, a target is named after the service (its `process`), as the static ones are.
    expect(job?.relabel_configs).toContainEqual({ source_labels: ['__meta_dns_name'], regex: '(.+)', target_label: 'process' });
    // None of a service's replicas found or answering leaves no `up` series to be 0: an alert of its own says
    // so, on a series the service exports itself (the compose scrape's labels are not there elsewhere).
    const rules = alertRules().map((rule) => rule.expr.replace(/\s+/g, ''));
    for (const { name } of scraped.filter(({ replicas }) => replicas > 1)) {
      expect({ name, alerted: rules.includes(`absent(nodejs_version_info{service="${name}"})`) }).toEqual({ name, alerted: true });
    }
  });

  it('alert on the share of operations that failed, not on errors, which one operation can carry many of', () => {
    const rule = alertRules().find((candidate) => candidate.alert === 'HighErrorRate');
    const reads = readsIn(rule?.expr ?? '', (name) => name.startsWith('graphql_')).map(({ metric, selector }) => `${metric}${selector}`);
    expect(reads).toEqual(['graphql_requests_total{outcome="failed"}', 'graphql_requests_total']);
  });

  it("alert on a subgraph's open circuit whatever number of gateway workers report it open", () => {
    const rule = alertRules().find((candidate) => candidate.alert === 'SubgraphCircuitOpen');
    // subgraph_circuit_open as scraped: 0 closed, 1 open; 2 or more if a gateway's workers were ever added up.
    expect([0, 1, 2, 4].map((value) => firesOn(rule?.expr ?? '', value))).toEqual([false, true, true, true]);
  });
});

describe('monitoring: the dashboard and the alert rules', () => {
  let stack: RunningStack;
  let exported: Set<string>;
  /** The labels each metric is exported with, by its name (a series' labels, the process's `service` among them). */
  const labelsOf = new Map<string, Set<string>>();
  /** Every process's scrape, one after another. */
  let scraped = '';

  beforeAll(async () => {
    stack = await startStack();
    // Traffic of every kind the metrics describe: operations, an error, a payment (the outbox), SQL.
    const admin = await demoAdmin(stack.gatewayUrl);
    await pay(stack.gatewayUrl, admin, '1.00');
    await graphql(stack.gatewayUrl, '{ users(first: 2) { edges { node { id profile { displayName } } } } }', { token: admin.accessToken });
    await graphql(stack.gatewayUrl, '{ me { id } }');
    const scrapes = await Promise.all(
      [stack.gatewayUrl, ...Object.values(stack.subgraphUrls)].map(async (url) => (await fetch(url.replace('/graphql', '/metrics'))).text()),
    );
    scraped = scrapes.join('\n');
    exported = new Set<string>();
    for (const text of scrapes) {
      for (const match of text.matchAll(/^# TYPE (\S+) (\w+)$/gm)) {
        const [, name = '', type] = match;
        exported.add(name);
        if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exported.add(`${name}${suffix}`);
      }
      for (const [, name = '', labels = ''] of text.matchAll(/^(\w+)\{([^}]*)\} /gm)) {
        const names = labelsOf.get(name) ?? new Set<string>();
        for (const [, label = ''] of labels.matchAll(/(\w+)="/g)) names.add(label);
        labelsOf.set(name, names);
      }
    }
    // Made by Prometheus itself for every target.
    exported.add('up');
  });
  afterAll(() => stack?.stop());

  it('reads PromQL as expected', () => {
    expect(metricsIn('sum by (service, le) (rate(graphql_request_duration_seconds_bucket{code!="x"}[5m])) / ignoring(le) up > 0.5')).toEqual([
      'graphql_request_duration_seconds_bucket',
      'up',
    ]);
  });

  it('alert on metrics the stack exports, each with a severity and a summary', () => {
    const rules = alertRules();
    expect(rules.map((rule) => rule.alert)).toEqual(
      expect.arrayContaining(['ProcessDown', 'SubgraphCircuitOpen', 'HighErrorRate', 'HighLatencyP99', 'DatabasePoolSaturated', 'SchemaGrowingFast']),
    );
    for (const rule of rules) {
      const unknown = metricsIn(rule.expr).filter((name) => !exported.has(name));
      expect({ alert: rule.alert, unknown }).toEqual({ alert: rule.alert, unknown: [] });
      expect({ alert: rule.alert, severity: rule.labels?.severity, summary: Boolean(rule.annotations?.summary) }).toEqual({
        alert: rule.alert,
        severity: expect.stringMatching(/^(critical|warning)$/),
        summary: true,
      });
    }
  });

  it('tell latencies apart up to past the longest a request or statement may wait: p99 is never shown as less than it was', () => {
    // histogram_quantile answers the highest finite bucket for anything above it: a request that waited
    // out the gateway's subgraph timeout (SUBGRAPH_TIMEOUT_MS, 10 s), or a statement behind an erasure's
    // lock (up to 30 s), would read as 5 s and 1 s.
    const highest = (metric: string) =>
      Math.max(...[...scraped.matchAll(new RegExp(`^${metric}_bucket\\{[^}]*le="([\\d.]+)"`, 'gm'))].map((match) => Number(match[1])));
    expect({ requests: highest('graphql_request_duration_seconds'), statements: highest('db_query_duration_seconds') }).toEqual({
      requests: 30,
      statements: 30,
    });
  });

  it("read PostgreSQL's figures, which every replica of a service reports alike, once: first a max over replicas, keeping only the metric's own labels", () => {
    // pg_* figures are the database's (a table's size, a role's connections), read by every process of the
    // service: a sum or count over them before that max multiplies them by the number of replicas, and an
    // alert on them without one fires once per replica. Its labels must not include the target's (instance).
    const reads = expressions().flatMap(({ where, expr }) =>
      readsIn(expr, (name) => name.startsWith('pg_')).map(({ metric, around }) => ({ where, metric, first: around[0], own: labelsOf.get(metric) })),
    );
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.filter(({ own }) => own === undefined).map(({ where, metric }) => `${where}: ${metric} is not exported`)).toEqual([]);
    const once = ({ first, own }: (typeof reads)[number]) => first?.operator === 'max' && first.by?.every((label) => own?.has(label)) === true;
    expect(
      reads
        .filter((read) => !once(read))
        .map(({ where, metric, first }) => `${where}: ${metric} under ${first ? `${first.operator} by (${first.by?.join(', ') ?? '?'})` : 'no aggregation'}`),
    ).toEqual([]);
  });

  it('show, on the provisioned dashboard, only metrics the stack exports, from the provisioned data source', () => {
    const dashboard = JSON.parse(read('grafana/dashboards/fedstack.json')) as { uid: string; panels: Panel[] };
    const datasource = (parse(read('grafana/provisioning/datasources/prometheus.yml')) as { datasources: { uid: string; url: string }[] }).datasources[0];
    expect(datasource?.url).toBe('http://prometheus:9090');
    expect(dashboard.panels.length).toBeGreaterThanOrEqual(10);
    for (const panel of dashboard.panels) {
      expect({ panel: panel.title, uid: panel.datasource.uid }).toEqual({ panel: panel.title, uid: datasource?.uid });
      for (const target of panel.targets) {
        const unknown = metricsIn(target.expr).filter((name) => !exported.has(name));
        expect({ panel: panel.title, unknown }).toEqual({ panel: panel.title, unknown: [] });
      }
    }
    const provider = parse(read('grafana/provisioning/dashboards/fedstack.yml')) as { providers: { options: { path: string } }[] };
    expect(provider.providers[0]?.options.path).toBe('/var/lib/grafana/dashboards');
  });
});
