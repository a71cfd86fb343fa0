// One row of the benchmark: a load driven at each system in turn, with throughput, latency and CPU per request.
import { cpuSample, type CpuGroup } from './cpu';
import { drive, median, type LoadRequest, type LoadResult, type LoadTarget } from './load';
import type { Row } from './report';

/** How long and how hard each row drives its systems. */
export interface MeasureOptions {
  warmupSeconds: number;
  rounds: number;
  roundSeconds: number;
  connections: number;
}

/** A gateway or stack being measured: where to send requests, and which processes to count. */
export interface System {
  via: string;
  runtime: string;
  url: string;
  cpu: CpuGroup[];
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
  const targets: LoadTarget[] = systems.map((system) => ({ via: system.via, url: system.url, next: next(), ...(onAnswer ? { onAnswer } : {}) }));
  for (const target of targets) await drive(target, options.warmupSeconds, options.connections);
  const results = systems.map(() => ({ load: [] as LoadResult[], cpuMs: [] as Record<string, number>[] }));
  for (let round = 0; round < options.rounds; round += 1) {
    for (const [index, system] of systems.entries()) {
      const sample = cpuSample(system.cpu);
      const load = await drive(targets[index] as LoadTarget, options.roundSeconds, options.connections);
      const used = sample();
      results[index]?.load.push(load);
      results[index]?.cpuMs.push(Object.fromEntries(Object.entries(used).map(([name, ms]) => [name, ms / Math.max(load.requests, 1)])));
    }
  }
  return systems.map((system, index) => {
    const entry = results[index] ?? { load: [], cpuMs: [] };
    const result = median(entry.load);
    const cpuPerRequest = Object.fromEntries(
      system.cpu.map((group) => {
        const values = entry.cpuMs.map((round) => round[group.name] ?? 0).sort((a, b) => a - b);
        return [group.name, values[Math.floor(values.length / 2)] ?? Number.NaN];
      }),
    );
    console.log(
      `  ${`${system.via} (${system.runtime})`.padEnd(50)} ${result.requestsPerSecond.toFixed(0).padStart(6)} req/s  p50 ${result.p50.toFixed(1)} ms  p99 ${result.p99.toFixed(1)} ms  errors ${result.errors}  ` +
        Object.entries(cpuPerRequest)
          .map(([name, ms]) => `${name} ${ms.toFixed(2)}`)
          .join(' · '),
    );
    return { load: label, via: system.via, runtime: system.runtime, result, cpuPerRequest };
  });
}
