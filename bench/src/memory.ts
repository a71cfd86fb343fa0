// A process's descendants and their resident memory, idle and at peak, from /proc.
import { readdirSync, readFileSync } from 'node:fs';

/**
 * A process's /proc/<pid>/stat: its command name, and the fields after it (`fields[1]` is the parent,
 * 11 and 12 its user and system time, 13 and 14 its waited-for children's); undefined once it has gone.
 */
export function procStat(pid: number): { command: string; fields: string[] } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces and parentheses itself.
    const end = stat.lastIndexOf(')');
    return { command: stat.slice(stat.indexOf('(') + 1, end), fields: stat.slice(end + 2).split(' ') };
  } catch {
    return undefined;
  }
}

/** The process and all its descendants (a cluster primary and its workers), from /proc. */
export function processTree(root: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    // One that ended while we looked has no parent to list it under.
    const stat = procStat(Number(entry));
    if (!stat) continue;
    const parent = Number(stat.fields[1]);
    parents.set(parent, [...(parents.get(parent) ?? []), Number(entry)]);
  }
  const tree = [root];
  for (let index = 0; index < tree.length; index += 1) tree.push(...(parents.get(tree[index] as number) ?? []));
  return tree;
}

function statusMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Resident memory of a process tree in MB, now (VmRSS) or at its peak so far (the kernel's high-water mark, VmHWM): its largest process and the sum of all. */
export function treeRssMb(root: number, when: 'now' | 'peak'): { largest: number; total: number } {
  const figures = processTree(root)
    .map((pid) => statusMb(pid, when === 'now' ? 'VmRSS' : 'VmHWM'))
    .filter((mb) => !Number.isNaN(mb));
  return { largest: Math.max(...figures), total: figures.reduce((sum, mb) => sum + mb, 0) };
}

/** One process (with its workers) on one runtime: resident memory idle after its start and at its peak until read, in MB. */
export interface MemoryFigure {
  process: string;
  runtime: string;
  /** Its largest process (a gateway worker, say) and all its processes together. */
  idle: { largest: number; total: number };
  peak: { largest: number; total: number };
}

/** Records each named process's idle memory now; `peak()` then reads the high-water marks and answers the figures. */
export function memoryOf(processes: { name: string; pid: number }[], runtime: string): { peak(): MemoryFigure[] } {
  const idle = processes.map(({ name, pid }) => ({ name, pid, idle: treeRssMb(pid, 'now') }));
  return { peak: () => idle.map(({ name, pid, idle: now }) => ({ process: name, runtime, idle: now, peak: treeRssMb(pid, 'peak') })) };
}
