// The benchmark's read-replica rows as Markdown: each server's CPU per request, and where the possibly-stale reads went.
import type { Row } from './report';

/** Each user keeps the positions its answers give and sends them back: reads after its writes wait for the replica to have them. */
export const REPLICA_CARRYING = 'realistic mix, with a replica, clients carrying their positions';
/** The same clients sending nothing: every possibly-stale read may go to the replica at once, with no position to check. */
export const REPLICA_NOT_CARRYING = 'realistic mix, with a replica, clients sending no positions';
/** The CPU groups of the two servers, each its postmaster and every process it started. */
export const PRIMARY_CPU = 'postgres primary';
export const REPLICA_CPU = 'postgres replica';

/** The counters of the requests the carrying clients sent, and of those that carried positions. */
export const SENT = 'clients:requests';
export const SENT_WITH_POSITIONS = 'clients:with positions';

/** The section's rows, or why there are none. */
export interface ReplicaSection {
  rows: Row[];
  skipped?: string;
}

const SUBGRAPHS = ['auth', 'profile', 'payments', 'admin'];
const ms = (row: Row, group: string) => row.cpuPerRequest[group];
const cell = (value: number | undefined, digits = 2) => (value === undefined || Number.isNaN(value) ? '—' : value.toFixed(digits));
const subgraphsCpu = (row: Row) => SUBGRAPHS.reduce((sum, name) => sum + (ms(row, name) ?? Number.NaN), 0);

/** Possibly-stale reads a row's services made, by service: how many, and how many a replica served. */
function reads(row: Row): { service: string; total: number; replica: number }[] {
  const counters = row.counters ?? {};
  return SUBGRAPHS.map((service) => {
    const replica = counters[`${service}:replica`] ?? 0;
    return { service, total: replica + (counters[`${service}:primary`] ?? 0), replica };
  });
}

const percent = (part: number, whole: number) => (whole > 0 ? `${((100 * part) / whole).toFixed(1)} %` : '—');

function line(label: string, row: Row, withReplica: boolean): string {
  const { result } = row;
  const primary = ms(row, PRIMARY_CPU);
  const replica = withReplica ? ms(row, REPLICA_CPU) : undefined;
  const served = withReplica ? reads(row) : [];
  const total = served.reduce((sum, entry) => sum + entry.total, 0);
  const fromReplica = served.reduce((sum, entry) => sum + entry.replica, 0);
  const figures = [
    result.requestsPerSecond.toFixed(0),
    result.p50.toFixed(1),
    result.p99.toFixed(1),
    ...['gateway', ...SUBGRAPHS].map((name) => cell(ms(row, name))),
    cell(primary),
    cell(replica),
    cell(withReplica ? (primary ?? Number.NaN) + (replica ?? Number.NaN) : primary),
    withReplica ? cell(total / Math.max(result.requests, 1)) : '—',
    withReplica ? percent(fromReplica, total) : '—',
    withReplica ? served.map((entry) => `${entry.service} ${percent(entry.replica, entry.total)}`).join(', ') : '—',
    row.counters?.[SENT] ? percent(row.counters[SENT_WITH_POSITIONS] ?? 0, row.counters[SENT]) : '—',
  ].map((figure) => (result.errors === 0 ? figure : `~~${figure}~~`));
  // As in the report's other tables: a row with errors keeps its figures, struck through, and its errors in bold.
  figures.splice(3, 0, result.errors === 0 ? '0' : `**${result.errors}**`);
  return `| ${label} | ${figures.join(' | ')} |`;
}

/** Why a row's figures cannot be compared, if they cannot: it had errors. */
const unmeasured = (rows: Row[]): string | undefined => {
  const failed = rows.find((row) => row.result.errors > 0);
  return failed && `Not compared: "${failed.load}" had ${failed.result.errors} errors, so its figures measure no working system.`;
};

const signed = (value: number, digits = 2) => `${value >= 0 ? '+' : '−'}${Math.abs(value).toFixed(digits)}`;

/**
 * The section: how the rows were made, then the row without a replica (`withoutReplica`, the same mix on the
 * same runtime earlier in the run) and the two with one, then what carrying positions cost.
 */
export function replicaTable(section: ReplicaSection | undefined, withoutReplica: Row | undefined): string[] {
  if (!section) return [];
  const lines = ['## Read replicas (issue 24)', ''];
  if (section.skipped) return [...lines, `The rows with a streaming replica were ${section.skipped}.`, ''];
  const carrying = section.rows.find((row) => row.load === REPLICA_CARRYING);
  const notCarrying = section.rows.find((row) => row.load === REPLICA_NOT_CARRYING);
  if (!carrying || !notCarrying) return [];
  lines.push(
    `The realistic mix on ${carrying.runtime} with one streaming replica of the benchmark's embedded PostgreSQL (a base backup of it, ` +
      '`startEmbeddedReplica`), given to every service (`DATABASE_REPLICA_URL`, or `<SERVICE>_DATABASE_REPLICA_URL` in the split layout): ' +
      'entity lookups, lists, totals and statistics may go to it. "Carrying their positions": each user (each token) keeps the ' +
      '`x-wal-positions` header of its answers and sends it with its next request, so a read after its writes goes to the replica only ' +
      'once it has replayed them (known from the last 250 ms check, else one more query on the replica); "sending no positions": the same ' +
      'users without the header. In both, each user goes through every operation of the mix in turn (one user fewer, 299, so that ' +
      "the count shares no factor with the mix's 20 slots; in the other rows each user makes one kind of request only), so it reads " +
      'after it has written. The two take turns within each round on the same stack (after a warm-up of the restarted stack, the ' +
      'first of each round alternating), so their difference is what checking positions ' +
      `costs. The row without a replica is the ${withoutReplica ? `${withoutReplica.runtime} realistic mix row above` : 'realistic mix row above'}, ` +
      'measured before the stack was restarted with the replica. CPU is milliseconds per request; `primary` and `replica` are each ' +
      "PostgreSQL server's own processes (its postmaster and every process it started: backends, the WAL sender on the primary, " +
      "recovery and the WAL receiver on the replica). Reads are the services' `db_possibly_stale_reads_total` over the measured rounds " +
      '(a service with none in the mix shows —); "requests carrying positions" is the share of the clients\' requests that sent some back.',
    '',
    '| load | req/s | p50 ms | p99 ms | errors | gateway CPU ms | auth CPU ms | profile CPU ms | payments CPU ms | admin CPU ms | primary CPU ms | replica CPU ms | primary + replica CPU ms | possibly-stale reads per request | from the replica | from the replica, by service | requests carrying positions |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |',
    ...(withoutReplica ? [line('realistic mix, no replica', withoutReplica, false)] : []),
    line(REPLICA_CARRYING, carrying, true),
    line(REPLICA_NOT_CARRYING, notCarrying, true),
    '',
  );
  const failed = unmeasured([carrying, notCarrying, ...(withoutReplica ? [withoutReplica] : [])]);
  if (failed) return [...lines, failed, ''];
  const throughput = carrying.result.requestsPerSecond / notCarrying.result.requestsPerSecond;
  lines.push(
    `Checking positions (carrying ÷ not carrying): ${throughput.toFixed(2)}× the requests per second; per request, ` +
      `subgraphs ${signed(subgraphsCpu(carrying) - subgraphsCpu(notCarrying))} CPU ms, ` +
      `primary ${signed((ms(carrying, PRIMARY_CPU) ?? Number.NaN) - (ms(notCarrying, PRIMARY_CPU) ?? Number.NaN))}, ` +
      `replica ${signed((ms(carrying, REPLICA_CPU) ?? Number.NaN) - (ms(notCarrying, REPLICA_CPU) ?? Number.NaN))}` +
      (carrying.counters?.[SENT] && !carrying.counters[SENT_WITH_POSITIONS]
        ? ' (but no request carried any: a user comes back only after every other user has had a turn, and this run was shorter than that)'
        : '') +
      '. The first load measured after the restart runs on the colder stack, and the order alternates only from the second round: ' +
      'with one round the difference is mostly that.',
  );
  const primaryWithout = withoutReplica && ms(withoutReplica, PRIMARY_CPU);
  if (primaryWithout !== undefined) {
    lines.push(
      `The primary's CPU per request with a replica ÷ without: ${((ms(carrying, PRIMARY_CPU) ?? Number.NaN) / primaryWithout).toFixed(2)}× carrying positions, ` +
        `${((ms(notCarrying, PRIMARY_CPU) ?? Number.NaN) / primaryWithout).toFixed(2)}× not; both servers together ÷ the primary alone without: ` +
        `${(((ms(carrying, PRIMARY_CPU) ?? Number.NaN) + (ms(carrying, REPLICA_CPU) ?? Number.NaN)) / primaryWithout).toFixed(2)}× and ` +
        `${(((ms(notCarrying, PRIMARY_CPU) ?? Number.NaN) + (ms(notCarrying, REPLICA_CPU) ?? Number.NaN)) / primaryWithout).toFixed(2)}×.`,
    );
  }
  lines.push('');
  return lines;
}
