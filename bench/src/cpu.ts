// CPU time per process group from /proc: a process and its children, or a PostgreSQL server's processes, between two readings.
import { readFileSync, readdirSync } from 'node:fs';
import pg from 'pg';
import { processTree } from './memory';

/** Kernel clock ticks per second (`getconf CLK_TCK`): 100 on Linux x86_64. */
const TICKS_PER_SECOND = 100;

/** CPU time a process has used, user and system, in milliseconds; 0 once it has gone. */
function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the command name: state is field 3; utime and stime are fields 14 and 15.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** Every PostgreSQL process on the machine (its postmaster and backends), by command name. */
export function postgresProcesses(): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        return readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'postgres';
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** A group of processes whose CPU is counted together: a process and its children, or PostgreSQL. */
export interface CpuGroup {
  name: string;
  pids: () => number[];
}

export const treeOf = (name: string, pid: number): CpuGroup => ({ name, pids: () => processTree(pid) });

/**
 * The PostgreSQL server `url` reaches, as a CPU group: its postmaster and every process it started
 * (backends, WAL sender, background workers), found as the parent of the backend that serves a
 * connection. A server on another machine cannot be seen from here: then every PostgreSQL process on this
 * one is counted, as the report says.
 */
export async function postgresServer(url: string, name = 'postgres'): Promise<CpuGroup> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const stat = readFileSync(`/proc/${rows[0]?.pid}/stat`, 'utf8');
    if (!stat.includes('(postgres)')) throw new Error('not this machine’s backend');
    // After the command name: state, then the parent's id.
    return treeOf(name, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
  } catch {
    return { name, pids: postgresProcesses };
  } finally {
    await client.end();
  }
}

/**
 * Reads each group's CPU time now; the returned function reads it again and answers the milliseconds
 * each group used in between. Processes that start or end in between count from or until then (a
 * PostgreSQL backend opened during the round counts from its start).
 */
export function cpuSample(groups: CpuGroup[]): () => Record<string, number> {
  const before = new Map<number, number>();
  for (const group of groups) for (const pid of group.pids()) before.set(pid, cpuMs(pid));
  return () => Object.fromEntries(groups.map((group) => [group.name, group.pids().reduce((sum, pid) => sum + cpuMs(pid) - (before.get(pid) ?? 0), 0)]));
}
