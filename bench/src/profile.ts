// `npm run bench:profile`: our stack on the shared layout under the realistic mix, every process with
// V8's CPU and sampling heap profilers on, and PostgreSQL's own account of the statements
// (pg_stat_statements and their plans). Writes the profiles and bench/results/profile.md, a summary of
// where each process's time and memory go and what each request asks of the database.
import { chmodSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPOSITORY_ROOT, SERVICES, readSettings, runMain } from '@fedstack/runtime';
import { ownerUrlFor } from '@fedstack/shared-db';
import { cpuSample, postgresServer, treeOf } from './cpu';
import { drive } from './load';
import { treeRssMb } from './memory';
import { MIX, requests } from './mix';
import { summariseCpuProfile, summariseHeapProfile, type Share } from './profiles';
import { BENCH_SETTINGS } from './settings';
import { queryAt } from '@fedstack/shared-db/testing';
import { startBenchStack } from './stack';

interface Statement {
  role: string;
  query: string;
  calls: number;
  total_ms: number;
  rows: number;
  blocks: number;
}

const STATEMENTS = `SELECT r.rolname AS role, s.query, s.calls::float8 AS calls, s.total_exec_time AS total_ms, s.rows::float8 AS rows,
    (s.shared_blks_hit + s.shared_blks_read)::float8 AS blocks
  FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
  WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`;

/** The plan PostgreSQL picks for a statement whatever its parameters (PostgreSQL 16 and later), as text. */
async function genericPlan(database: string, text: string): Promise<string> {
  try {
    return (await queryAt<{ 'QUERY PLAN': string }>(database, `EXPLAIN (GENERIC_PLAN, COSTS OFF) ${text}`)).map((row) => row['QUERY PLAN']).join('\n');
  } catch (error) {
    return `(no plan: ${(error as Error).message})`;
  }
}

function table(head: string[], rows: string[][]): string[] {
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((cells) => `| ${cells.join(' | ')} |`)];
}

const shares = (list: Share[], unit: string, digits = 0) =>
  list.map((share) => [`\`${share.label.replaceAll('|', '\\|')}\``, `${share.value.toFixed(digits)} ${unit}`, `${share.percent.toFixed(1)} %`]);

async function main(): Promise<void> {
  const values = readSettings(process.env, BENCH_SETTINGS);
  const seconds = values.BENCH_PROFILE_SECONDS;
  const directory = path.join(REPOSITORY_ROOT, 'bench', 'results', 'profiles');
  rmSync(directory, { recursive: true, force: true });
  // One gateway worker: one profile to read, and a stop that lets every process write its profile.
  const stack = await startBenchStack('shared', { workers: 1 });
  try {
    await stack.stop();
    const wrapper = (name: string) => {
      const dir = path.join(directory, name);
      mkdirSync(dir, { recursive: true });
      const file = path.join(dir, 'node');
      writeFileSync(file, `#!/bin/sh\nexec "${process.execPath}" --cpu-prof --cpu-prof-dir="${dir}" --heap-prof --heap-prof-dir="${dir}" "$@"\n`);
      chmodSync(file, 0o755);
      return file;
    };
    await stack.start(wrapper);

    const database = ownerUrlFor('auth', stack.databaseEnv);
    const statements = await queryAt(database, 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements').then(
      () => true,
      (error: Error) => {
        console.log(`pg_stat_statements unavailable (${error.message}); load it with shared_preload_libraries, or leave DATABASE_URL unset`);
        return false;
      },
    );
    const next = requests(MIX, stack.tokens);
    await drive({ via: 'our gateway', url: stack.gatewayUrl, next }, values.BENCH_WARMUP_SECONDS, values.BENCH_CONNECTIONS);
    if (statements) await queryAt(database, 'SELECT pg_stat_statements_reset()');
    const [before] = await queryAt<{ xacts: number }>(database, `SELECT sum(xact_commit + xact_rollback)::float8 AS xacts FROM pg_stat_database`);
    // The stack's own server: every PostgreSQL process on the machine counted other servers' work too.
    const groups = [...['gateway', ...SERVICES].map((name) => treeOf(name, stack.children.get(name)?.pid as number)), await postgresServer(database)];
    const sample = cpuSample(groups);
    console.log(`profiling the realistic mix for ${seconds} s…`);
    // V8's profiles are read over the same window, on the monotonic clock every process shares.
    const microseconds = () => Number(process.hrtime.bigint() / 1000n);
    const startUs = microseconds();
    const load = await drive({ via: 'our gateway', url: stack.gatewayUrl, next }, seconds, values.BENCH_CONNECTIONS);
    const window = { startUs, endUs: microseconds() };
    const cpu = sample();
    const [after] = await queryAt<{ xacts: number }>(database, `SELECT sum(xact_commit + xact_rollback)::float8 AS xacts FROM pg_stat_database`);
    const measured = statements ? await queryAt<Statement>(database, STATEMENTS) : [];
    const rss = Object.fromEntries(['gateway', ...SERVICES].map((name) => [name, treeRssMb(stack.children.get(name)?.pid as number, 'peak').largest]));
    await stack.stop();

    const perRequest = (value: number) => value / Math.max(load.requests, 1);
    const lines = [
      '# Where the time goes: profile of the realistic mix',
      '',
      `${new Date().toISOString()} · generated by \`npm run bench:profile\` · our stack on Node ${process.versions.node}, shared layout, one gateway worker, ` +
        `${values.BENCH_CONNECTIONS} connections, ${seconds} s after a ${values.BENCH_WARMUP_SECONDS} s warm-up. Profilers on (they cost time themselves: ` +
        'read the shares, not the throughput).',
      '',
      `${load.requests} requests (${load.requestsPerSecond.toFixed(0)} req/s, ${load.errors} errors). ` +
        `Transactions: ${perRequest((after?.xacts ?? 0) - (before?.xacts ?? 0)).toFixed(1)} per request.`,
      '',
      ...table(
        ['process', 'CPU ms per request', 'peak RSS MB'],
        [...Object.entries(cpu)].map(([name, ms]) => [name, perRequest(ms).toFixed(2), rss[name] === undefined ? '' : rss[name].toFixed(0)]),
      ),
      '',
    ];
    if (measured.length > 0) {
      const calls = measured.reduce((sum, entry) => sum + entry.calls, 0);
      const byRole = new Map<string, number>();
      for (const entry of measured) byRole.set(entry.role, (byRole.get(entry.role) ?? 0) + entry.calls);
      lines.push(
        `## PostgreSQL: ${perRequest(calls).toFixed(1)} statements per request`,
        '',
        [...byRole.entries()].map(([role, count]) => `${role} ${perRequest(count).toFixed(2)}`).join(' · '),
        '',
        ...table(
          ['role', 'statement', 'per request', 'mean ms', 'rows per call', 'buffers per call'],
          measured
            .sort((a, b) => b.calls - a.calls)
            .slice(0, 25)
            .map((entry) => [
              entry.role,
              `\`${entry.query.replace(/\s+/g, ' ').slice(0, 160).replaceAll('|', '\\|')}\``,
              perRequest(entry.calls).toFixed(2),
              (entry.total_ms / entry.calls).toFixed(3),
              (entry.rows / entry.calls).toFixed(1),
              (entry.blocks / entry.calls).toFixed(1),
            ]),
        ),
        '',
        'The plans of the five statements that took PostgreSQL the most time in all:',
        '',
      );
      const heaviest = [...measured]
        .filter((entry) => /^\s*(SELECT|WITH|UPDATE|INSERT)/i.test(entry.query))
        .sort((a, b) => b.total_ms - a.total_ms)
        .slice(0, 5);
      for (const entry of heaviest) {
        lines.push(
          `${entry.role}, ${(entry.total_ms / entry.calls).toFixed(3)} ms mean, ${perRequest(entry.calls).toFixed(2)} per request:`,
          '',
          '```',
          entry.query.replace(/\s+/g, ' ').slice(0, 300),
          '',
          await genericPlan(database, entry.query),
          '```',
          '',
        );
      }
    }
    for (const name of ['gateway', ...SERVICES]) {
      const files = readdirSync(path.join(directory, name)).map((file) => path.join(directory, name, file));
      const largest = (suffix: string) => files.filter((file) => file.endsWith(suffix)).sort((a, b) => statSync(b).size - statSync(a).size)[0];
      const cpuFile = largest('.cpuprofile');
      const heapFile = largest('.heapprofile');
      lines.push(`## ${name}`, '');
      if (cpuFile) {
        const summary = summariseCpuProfile(cpuFile, 15, window);
        // V8 samples by wall time while the thread is not idle, waits for a core included: shares, not CPU.
        lines.push(
          `${summary.totalMs.toFixed(0)} ms of samples in the measured window (\`${path.relative(REPOSITORY_ROOT, cpuFile)}\`), by owner, then by function ` +
            "(self time). V8 samples by wall time while the thread is busy, waiting for a core included: read them as shares; the process's CPU is the table above.",
          '',
        );
        lines.push(...table(['owner', 'self', 'share'], shares(summary.byOwner, 'ms')), '');
        lines.push(...table(['function', 'self', 'share'], shares(summary.byFunction, 'ms')), '');
      }
      if (heapFile) {
        const summary = summariseHeapProfile(heapFile);
        lines.push(`Heap still allocated at the stop, ${summary.totalMb.toFixed(1)} MB sampled, by owner:`, '');
        lines.push(...table(['owner', 'MB', 'share'], shares(summary.byOwner, 'MB', 1)), '');
      }
    }
    const report = path.join(REPOSITORY_ROOT, 'bench', 'results', 'profile.md');
    writeFileSync(report, `${lines.join('\n')}\n`);
    console.log(`Profile summary written to ${path.relative(process.cwd(), report)}; the profiles are in ${path.relative(process.cwd(), directory)}`);
  } finally {
    await stack.close();
  }
}

runMain(main);
