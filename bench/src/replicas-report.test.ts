import { PRIMARY_CPU, REPLICA_CARRYING, REPLICA_CPU, REPLICA_NOT_CARRYING, SENT, SENT_WITH_POSITIONS, replicaTable } from './replicas-report';
import type { Row } from './report';

const result = { requestsPerSecond: 100, p50: 10, p95: 20, p99: 30, requests: 1000, errors: 0 };
const cpu = (primary: number, replica?: number) => ({
  gateway: 2,
  auth: 1,
  profile: 1,
  payments: 1,
  admin: 0.1,
  [PRIMARY_CPU]: primary,
  ...(replica === undefined ? {} : { [REPLICA_CPU]: replica }),
});
const row = (load: string, cpuPerRequest: Record<string, number>, counters?: Record<string, number>, errors = 0): Row => ({
  load,
  via: 'our gateway',
  runtime: 'Node 24.0.0',
  result: { ...result, errors },
  cpuPerRequest,
  ...(counters ? { counters } : {}),
});

describe('the read replica section', () => {
  it('compares no figures of a row with errors, and strikes them through (5,000 errors still made "2.00× the requests per second")', () => {
    const failing = { ...row(REPLICA_CARRYING, cpu(1, 1.5), {}, 5000), result: { ...result, requestsPerSecond: 200, errors: 5000 } };
    const lines = replicaTable({ rows: [failing, row(REPLICA_NOT_CARRYING, cpu(0.8, 1.5))] }, row('realistic mix', cpu(2)));
    const text = lines.join('\n');
    expect(text).not.toContain('×');
    expect(text).toContain(`Not compared: "${REPLICA_CARRYING}" had 5000 errors`);
    expect(lines.find((line) => line.startsWith(`| ${REPLICA_CARRYING} |`))).toMatch(
      /^\| [^|]+ \| ~~200~~ \| ~~10\.0~~ \| ~~30\.0~~ \| \*\*5000\*\* \| ~~2\.00~~ \|/,
    );
  });

  it('gives each server its CPU, the share of reads from the replica and of requests carrying positions', () => {
    const lines = replicaTable(
      {
        rows: [
          row(REPLICA_CARRYING, cpu(1, 1.5), { 'auth:replica': 900, 'auth:primary': 100, 'payments:replica': 1000, [SENT]: 1200, [SENT_WITH_POSITIONS]: 300 }),
          row(REPLICA_NOT_CARRYING, cpu(0.8, 1.5), { 'auth:replica': 1000, 'payments:replica': 1000 }),
        ],
      },
      row('realistic mix', cpu(2)),
    );
    const table = lines.filter((line) => line.startsWith('| realistic mix'));
    expect(table).toHaveLength(3);
    expect(table[0]).toContain('| 2.00 | — | 2.00 | — | — | — | — |');
    expect(table[1]).toContain('| 1.00 | 1.50 | 2.50 | 2.00 | 95.0 % | auth 90.0 %, profile —, payments 100.0 %, admin — | 25.0 % |');
    expect(table[2]).toContain('| 0.80 | 1.50 | 2.30 | 2.00 | 100.0 % |');
    expect(lines.join('\n')).toContain('primary +0.20, replica +0.00. The first load');
  });

  it('says so when no request carried positions', () => {
    const rows = [row(REPLICA_CARRYING, cpu(1, 1), { [SENT]: 200, [SENT_WITH_POSITIONS]: 0 }), row(REPLICA_NOT_CARRYING, cpu(1, 1))];
    expect(replicaTable({ rows }, undefined).join('\n')).toContain('but no request carried any');
  });

  it('says why there are no rows on a server of the caller’s', () => {
    expect(replicaTable({ rows: [], skipped: 'not measured: reason' }, undefined).join('\n')).toContain(
      'The rows with a streaming replica were not measured: reason.',
    );
    expect(replicaTable(undefined, undefined)).toEqual([]);
  });
});
