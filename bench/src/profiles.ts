// Summaries of V8's CPU and heap profiles: time and memory by owner (a package, ours, Node) and by function.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPOSITORY_ROOT } from '@fedstack/runtime';

/** A V8 call frame as .cpuprofile and .heapprofile files record it. */
interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface CpuProfile {
  startTime: number;
  nodes: { id: number; callFrame: CallFrame }[];
  samples: number[];
  timeDeltas: number[];
}

interface HeapNode {
  callFrame: CallFrame;
  selfSize: number;
  children: HeapNode[];
}

/** Where a frame's code lives: a package from node_modules, one of ours, Node itself, or V8's own work. */
export function owner(frame: CallFrame): string {
  if (!frame.url) return frame.functionName.startsWith('(') ? frame.functionName : '(native)';
  if (frame.url.startsWith('node:')) return 'node';
  const file = frame.url.replace(/^file:\/\//, '');
  const modules = file.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const [scope, name] = file.slice(modules + '/node_modules/'.length).split('/');
    return scope?.startsWith('@') ? `${scope}/${name}` : (scope ?? file);
  }
  const relative = path.relative(REPOSITORY_ROOT, file);
  if (relative.startsWith('..')) return file;
  const parts = relative.split(path.sep);
  return `fedstack ${parts[0] === 'subgraphs' ? `${parts[0]}/${parts[1]}` : parts[0]}`;
}

function frameLabel(frame: CallFrame): string {
  const file = frame.url ? `${frame.url.replace(/^.*\/node_modules\//, '').replace(`file://${REPOSITORY_ROOT}/`, '')}:${frame.lineNumber + 1}` : '';
  return `${frame.functionName || '(anonymous)'}${file ? ` ${file}` : ''}`;
}

/** The largest entries of a tally, with their share of the total. */
export interface Share {
  label: string;
  value: number;
  percent: number;
}

function top(tally: Map<string, number>, count: number): Share[] {
  const total = [...tally.values()].reduce((sum, value) => sum + value, 0);
  return [...tally.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([label, value]) => ({ label, value, percent: total ? (100 * value) / total : 0 }));
}

/**
 * A CPU profile's self time, by owner and by function, in milliseconds; idle time left out. With a
 * window (µs on the monotonic clock the profile's own times are on, `process.hrtime`'s on Linux), only
 * the samples taken in it.
 */
export function summariseCpuProfile(
  file: string,
  count = 15,
  window?: { startUs: number; endUs: number },
): { totalMs: number; byOwner: Share[]; byFunction: Share[] } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const byOwner = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let totalMs = 0;
  let time = profile.startTime;
  profile.samples.forEach((id, index) => {
    time += profile.timeDeltas[index] ?? 0;
    if (window && (time < window.startUs || time > window.endUs)) return;
    const frame = frames.get(id);
    if (!frame || frame.functionName === '(idle)') return;
    const ms = (profile.timeDeltas[index] ?? 0) / 1000;
    totalMs += ms;
    byOwner.set(owner(frame), (byOwner.get(owner(frame)) ?? 0) + ms);
    byFunction.set(frameLabel(frame), (byFunction.get(frameLabel(frame)) ?? 0) + ms);
  });
  return { totalMs, byOwner: top(byOwner, count), byFunction: top(byFunction, count) };
}

/** A sampling heap profile (what was still allocated when the process stopped), by owner, in MB. */
export function summariseHeapProfile(file: string, count = 10): { totalMb: number; byOwner: Share[] } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { head: HeapNode };
  const byOwner = new Map<string, number>();
  let totalMb = 0;
  const visit = (node: HeapNode) => {
    const mb = node.selfSize / 2 ** 20;
    totalMb += mb;
    if (mb > 0) byOwner.set(owner(node.callFrame), (byOwner.get(owner(node.callFrame)) ?? 0) + mb);
    node.children.forEach(visit);
  };
  visit(profile.head);
  return { totalMb, byOwner: top(byOwner, count) };
}
