// The Prometheus metrics every process has (operations, durations, errors), and a scrape that survives a failing collector.
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const MAX_OPERATION_LABELS = 100;
/** Names the gateway says are listed, at a subgraph: bounded too, for a subgraph a client can reach without the gateway. */
const MAX_LISTED_UPSTREAM_LABELS = 1000;
/**
 * The header by which the gateway tells a subgraph that the client's operation is one the persisted
 * manifest lists, so that the subgraph's part of it keeps a label of its own.
 */
export const OPERATION_LISTED_HEADER = 'x-operation-listed';
/**
 * Longer names than any an app gives its operations share one label too: 100 names of 45 kB each made a
 * scrape of 4.5 MB per series, and the next one ran a subgraph (128 MB of heap) out of memory.
 */
export const MAX_OPERATION_NAME_LENGTH = 100;

/**
 * Operation names come from clients; past a fixed number of distinct names, or a length, the rest share
 * one label, so that nobody can grow the metrics without bound. Names an operator lists (the persisted
 * operations) always keep theirs: otherwise a client sending 100 made-up names first would leave every
 * real operation counted as "other".
 */
class BoundedLabels {
  private readonly seen = new Set<string>();
  private readonly listedUpstream = new Set<string>();
  private listed: ReadonlySet<string> = new Set();

  constructor(private readonly limit: number) {}

  /** The names that keep a label of their own whatever else came first, in place of those listed before. */
  list(names: Iterable<string>): void {
    this.listed = new Set(names);
  }

  /** Whether `name` is one of the listed names. */
  lists(name: string): boolean {
    return this.listed.has(name);
  }

  /** The label of `name`; `listedUpstream`: the gateway says its operation is listed. */
  label(name: string | null | undefined, listedUpstream: boolean): string {
    if (!name) return 'anonymous';
    if (this.listed.has(name) || this.seen.has(name) || this.listedUpstream.has(name)) return name;
    if (name.length > MAX_OPERATION_NAME_LENGTH) return 'other';
    const [names, limit] = listedUpstream ? [this.listedUpstream, MAX_LISTED_UPSTREAM_LABELS] : [this.seen, this.limit];
    if (names.size >= limit) return 'other';
    names.add(name);
    return name;
  }
}

/** One process's Prometheus metrics, in a registry of its own (several servers may share a test process). */
export class ServiceMetrics {
  readonly registry = new Registry();
  private readonly operations = new BoundedLabels(MAX_OPERATION_LABELS);
  /** Whether OPERATION_LISTED_HEADER is taken (a subgraph's, whose requests the gateway sends; never the gateway's, whose clients send it). */
  private readonly takesListedHeader: boolean;

  readonly requests = new Counter({
    name: 'graphql_requests_total',
    help: 'GraphQL operations handled, by operation name and outcome',
    labelNames: ['operation', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly requestDuration = new Histogram({
    name: 'graphql_request_duration_seconds',
    help: 'Time to answer a GraphQL operation, by operation name',
    labelNames: ['operation'] as const,
    // Up to past the gateway's subgraph timeout (10 s by default): a quantile above the highest bucket reads as that bucket.
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly errors = new Counter({
    name: 'graphql_errors_total',
    help: 'Errors returned to clients, by error code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  constructor(prefixLabels: Record<string, string>, options: { takesListedHeader?: boolean } = {}) {
    this.takesListedHeader = options.takesListedHeader ?? false;
    this.registry.setDefaultLabels(prefixLabels);
    collectDefaultMetrics({ register: this.registry });
  }

  /**
   * The label an operation's name is counted under: its own, "anonymous" or "other". `listedHeader`:
   * the request's OPERATION_LISTED_HEADER, taken where the process takes it.
   */
  operationLabel(name: string | null | undefined, listedHeader?: string | null): string {
    return this.operations.label(name, this.takesListedHeader && listedHeader === '1');
  }

  /** Whether the persisted manifest lists an operation of this name. */
  listsOperation(name: string): boolean {
    return this.operations.lists(name);
  }

  /**
   * Operation names that always keep a label of their own, beside the first 100 others (the gateway's
   * persisted operations, as they are loaded and reloaded).
   */
  listOperationNames(names: Iterable<string>): void {
    this.operations.list(names);
  }
}

/**
 * The registry's text for one scrape, without the metrics whose collector failed (one that reads a
 * database that is down, say), each reported to `failed`: one failing collector would otherwise fail
 * the whole scrape, and the rest is what an operator needs most while something is down.
 */
export async function scrapeText(registry: Registry, failed: (metric: string, error: unknown) => void): Promise<string> {
  const texts = await Promise.all(
    registry.getMetricsAsArray().map((metric) =>
      registry.getSingleMetricAsString(metric.name).catch((error: unknown) => {
        failed(metric.name, error);
        return undefined;
      }),
    ),
  );
  return `${texts.filter((text) => text !== undefined).join('\n\n')}\n`;
}
