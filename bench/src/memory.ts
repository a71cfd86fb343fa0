// A process's descendants and their resident memory, idle and at peak, from /proc.
import { readdirSync, readFileSync } from 'node:fs';

/** The process and all its descendants (a cluster primary and its workers), from /proc. */
export function processTree(root: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(parent, [...(parents.get(parent) ?? []), Number(entry)]);
    } catch {
      // The process ended while we looked.
    }
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
