// One row of the benchmark: a load driven at each system in turn, with throughput, latency and CPU per request.
import { cpuSample, type CpuGroup } from './cpu';
import { drive, median, mid, type LoadRequest, type LoadResult, type LoadTarget } from './load';
import type { Row } from './report';

/** How long and how hard each row drives its systems. */
export interface MeasureOptions {
  warmupSeconds: number;
  rounds: number;
  roundSeconds: number;
  connections: number;
  /** Take turns in the opposite order every other round (A B, B A, …): drift in the stack then favours none. */
  alternate?: boolean;
}

/** A gateway or stack being measured: where to send requests, and which processes to count. */
export interface System {
  via: string;
  runtime: string;
  url: string;
  cpu: CpuGroup[];
  /** A load of its own instead of the row's (its label and requests): two loads on one stack then take turns within each round. */
  load?: { label: string; next: () => () => LoadRequest };
  /** Counters read before and after each measured round (a service's metrics): the row has what they grew by over its rounds. */
  counters?: () => Promise<Record<string, number>>;
}

/**
 * Measures one load on each system: a warm-up each, then rounds in which the systems take turns, so that
 * a noisy moment hits all alike. CPU per request comes from /proc for every process involved.
 */
export async function measure(
  label: string,
  systems: System[],
  next: () => () => LoadRequest,
  options: MeasureOptions,
  onAnswer?: (body: string) => void,
): Promise<Row[]> {
  console.log(`${label}: warming up…`);
  const targets: LoadTarget[] = systems.map((system) => ({
    via: system.via,
    url: system.url,
    next: (system.load?.next ?? next)(),
    ...(onAnswer ? { onAnswer } : {}),
  }));
  for (const target of targets) await drive(target, options.warmupSeconds, options.connections);
  const results = systems.map((): { load: LoadResult[]; cpuMs: Record<string, number>[]; counters: Record<string, number> } => ({
    load: [],
    cpuMs: [],
    counters: {},
  }));
  for (let round = 0; round < options.rounds; round += 1) {
    const order = [...systems.entries()];
    if (options.alternate && round % 2 === 1) order.reverse();
    for (const [index, system] of order) {
      // Read outside the CPU window: a scrape costs its process (and maybe PostgreSQL) something too.
      const countersBefore = await system.counters?.();
      const sample = cpuSample(system.cpu);
      const load = await drive(targets[index] as LoadTarget, options.roundSeconds, options.connections);
      const used = sample();
      const countersAfter = await system.counters?.();
      const entry = results[index] as (typeof results)[number];
      entry.load.push(load);
      entry.cpuMs.push(Object.fromEntries(Object.entries(used).map(([name, ms]) => [name, ms / Math.max(load.requests, 1)])));
      for (const [name, value] of Object.entries(countersAfter ?? {})) {
        entry.counters[name] = (entry.counters[name] ?? 0) + value - (countersBefore?.[name] ?? 0);
      }
    }
  }
  return systems.map((system, index) => {
    const entry = results[index] ?? { load: [], cpuMs: [], counters: {} };
    const load = system.load?.label ?? label;
    const result = median(entry.load);
    const cpuPerRequest = Object.fromEntries(
      // The median as every other figure has it: with two rounds, their mean (it was the larger of the two).
      system.cpu.map((group) => [group.name, mid(entry.cpuMs.map((round) => round[group.name] ?? 0))]),
    );
    console.log(
      `  ${system.load ? `${load}: ` : ''}${`${system.via} (${system.runtime})`.padEnd(50)} ${result.requestsPerSecond.toFixed(0).padStart(6)} req/s  p50 ${result.p50.toFixed(1)} ms  p99 ${result.p99.toFixed(1)} ms  errors ${result.errors}  ` +
        Object.entries(cpuPerRequest)
          .map(([name, ms]) => `${name} ${ms.toFixed(2)}`)
          .join(' · '),
    );
    return { load, via: system.via, runtime: system.runtime, result, cpuPerRequest, ...(system.counters ? { counters: entry.counters } : {}) };
  });
}
