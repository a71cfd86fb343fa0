// CPU time per process group from /proc: a process and its children, or a PostgreSQL server's processes, between two readings.
import { readdirSync } from 'node:fs';
import pg from 'pg';
import { procStat, processTree } from './memory';

/** Kernel clock ticks per second (`getconf CLK_TCK`): 100 on Linux x86_64. */
const TICKS_PER_SECOND = 100;

/** What a process has used, user and system, in milliseconds: itself, and its children that have ended and been waited for. */
interface Used {
  own: number;
  ended: number;
  parent: number;
}

/** A process's CPU time now; undefined once it has gone. */
function usedBy(pid: number): Used | undefined {
  const stat = procStat(pid);
  if (!stat) return undefined;
  const ms = (...at: number[]) => (at.reduce((sum, index) => sum + Number(stat.fields[index]), 0) * 1000) / TICKS_PER_SECOND;
  return { own: ms(11, 12), ended: ms(13, 14), parent: Number(stat.fields[1]) };
}

/** Every PostgreSQL process on the machine (its postmaster and backends), by command name. */
function postgresProcesses(): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => procStat(pid)?.command === 'postgres');
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
    const stat = procStat(Number(rows[0]?.pid));
    if (stat?.command !== 'postgres') throw new Error('not this machine’s backend');
    return treeOf(name, Number(stat.fields[1]));
  } catch {
    return { name, pids: postgresProcesses };
  } finally {
    await client.end();
  }
}

/**
 * Reads each group's CPU time now; the returned function reads it again and answers the milliseconds
 * each group used in between. A process that starts in between counts from its start; one that ends in
 * between (a PostgreSQL backend whose connection closed) counts until its end, through what its nearest
 * ancestor still there was told when the ones between waited for it: counting only the processes there
 * at the second reading dropped it.
 */
export function cpuSample(groups: CpuGroup[]): () => Record<string, number> {
  const first = groups.map(reading);
  return () =>
    Object.fromEntries(
      groups.map((group, index) => {
        const before = first[index] as Map<number, Used>;
        const now = reading(group);
        // What each ended process had used before the first reading, by the ancestor whose children's time
        // it is now part of: that much of the ancestor's growth is not of this interval.
        const earlier = new Map<number, number>();
        for (const [pid, { own, ended, parent }] of before) {
          if (now.has(pid)) continue;
          let ancestor = parent;
          while (!now.has(ancestor) && before.has(ancestor)) ancestor = (before.get(ancestor) as Used).parent;
          if (now.has(ancestor)) earlier.set(ancestor, (earlier.get(ancestor) ?? 0) + own + ended);
        }
        let used = 0;
        for (const [pid, { own, ended }] of now) {
          const then = before.get(pid);
          // At least nothing: a parent that never waits (the kernel reaping its children) is told nothing.
          used += own - (then?.own ?? 0) + Math.max(0, ended - (then?.ended ?? 0) - (earlier.get(pid) ?? 0));
        }
        return [group.name, used];
      }),
    );
}

/** The group's processes there now, with what each has used. */
function reading(group: CpuGroup): Map<number, Used> {
  const found = new Map<number, Used>();
  for (const pid of group.pids()) {
    const used = usedBy(pid);
    if (used) found.set(pid, used);
  }
  return found;
}
