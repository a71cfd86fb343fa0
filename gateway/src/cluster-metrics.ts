// The metrics of a gateway of several workers: the primary asks each worker for its figures and adds them up.
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';

type Figures = MetricObjectWithValues<MetricValue<string>>[];

const REQUEST = 'fedstack:metrics-request';
const ANSWER = 'fedstack:metrics';
/**
 * Counters and histograms only grow, and add up: a worker's last figures of these go on counting after it
 * exits. (prom-client's types say `type` is a numeric enum; its figures carry the type's name.)
 */
const carried = (metric: Figures[number]) => ['counter', 'histogram'].includes(String(metric.type)) && metric.aggregator === 'sum';

/** What the primary needs of a worker: node:cluster's Worker. */
export interface MetricsWorker {
  id: number;
  process: { pid?: number };
  send(message: object, callback: (error: Error | null) => void): unknown;
}

/** What the primary listens to: node:cluster itself. */
export interface WorkerEvents {
  on(event: 'listening' | 'exit', listener: (worker: MetricsWorker) => void): unknown;
  on(event: 'message', listener: (worker: MetricsWorker, message: unknown) => void): unknown;
}

const isMessage = (message: unknown, type: string): message is { type: string; id: number; figures?: Figures } =>
  typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type;

/** How a worker hears the primary: its process. */
export interface PrimaryChannel {
  on(event: 'message', listener: (message: unknown) => void): unknown;
  send?(message: object, callback: (error: Error | null) => void): unknown;
}

/** In a worker: answers the primary's requests with `registry`'s figures. */
export function answerMetricRequests(registry: Registry, channel: PrimaryChannel = process): void {
  channel.on('message', (message: unknown) => {
    if (!isMessage(message, REQUEST)) return;
    // A registry that cannot collect answers without figures: the primary shows the worker's last ones. A
    // primary gone meanwhile is no error of the worker's (the callback keeps Node from raising one).
    const answer = (figures?: Figures) => channel.send?.({ type: ANSWER, id: message.id, figures }, () => undefined);
    registry.getMetricsAsJSON().then(answer, () => answer());
  });
}

/**
 * In the primary: every worker's figures added up (prom-client's aggregation: sums, or the aggregator a
 * metric names), for one scrape to show the whole gateway. prom-client's own cluster support waits for
 * every worker, so a worker still starting (one that has not loaded the gateway yet cannot answer) or
 * one that has just died failed the scrape after 5 s; and a worker that exited took its counts out of
 * the sums, which Prometheus reads as a counter reset and counts the whole figure again as an increase,
 * a spike in every rate. Here only workers that listen are asked; one that does not answer in time is
 * shown as it last answered; and an exited worker's counters and histograms, as it last answered, stay
 * in the sums, so that they never go down.
 */
export class WorkerMetrics {
  /** Each worker that has listened: its latest answer (none until its first), and whether it has exited. */
  private readonly workers = new Map<number, { worker: MetricsWorker; figures?: Figures; exited: boolean }>();
  private readonly waiting = new Map<number, { worker: number; done(): void }>();
  /** What workers folded into `retired` had counted, as they last answered. */
  private retired: Figures = [];
  /** Folds one exited worker at a time, each onto the one before. */
  private folding = Promise.resolve();
  private nextRequest = 0;
  readonly contentType = AggregatorRegistry.PROMETHEUS_CONTENT_TYPE;

  constructor(
    events: WorkerEvents,
    private readonly answerWithinMs = 5000,
  ) {
    events.on('listening', (worker) => this.workers.set(worker.id, { worker, exited: false }));
    events.on('message', (worker, message) => {
      if (!isMessage(message, ANSWER)) return;
      const entry = this.workers.get(worker.id);
      if (message.figures && entry && !entry.exited) entry.figures = message.figures;
      this.waiting.get(message.id)?.done();
    });
    events.on('exit', (worker) => this.retire(worker.id));
  }

  /** The text of one scrape. */
  async metrics(): Promise<string> {
    await Promise.all([...this.workers.values()].filter((entry) => !entry.exited).map(({ worker }) => this.ask(worker)));
    // Taken at one moment: an exited worker's figures are either still its own or folded into `retired`.
    const figures = [...this.workers.values()].flatMap(({ figures, exited }) => (figures ? [exited ? figures.filter(carried) : figures] : []));
    return AggregatorRegistry.aggregate([...figures, this.retired]).metrics();
  }

  private ask(worker: MetricsWorker): Promise<void> {
    return new Promise<void>((resolve) => {
      const request = this.nextRequest++;
      const done = () => {
        clearTimeout(timer);
        this.waiting.delete(request);
        resolve();
      };
      const timer = setTimeout(() => {
        console.warn(`gateway worker ${worker.process.pid} gave no metrics within ${this.answerWithinMs} ms: shown as it last gave them`);
        done();
      }, this.answerWithinMs);
      this.waiting.set(request, { worker: worker.id, done });
      // A worker whose channel has just closed cannot be asked (its exit is on the way).
      worker.send({ type: REQUEST, id: request }, (error) => error && done());
    });
  }

  private retire(id: number): void {
    const entry = this.workers.get(id);
    if (!entry) return;
    entry.exited = true;
    // A scrape waiting for this worker's answer has had all it will get.
    for (const waiting of this.waiting.values()) if (waiting.worker === id) waiting.done();
    this.folding = this.folding
      .then(async () => {
        const counted = (entry.figures ?? []).filter(carried);
        const retired = await AggregatorRegistry.aggregate([this.retired, counted]).getMetricsAsJSON();
        this.retired = retired;
        this.workers.delete(id);
      })
      // Not folded, it is still counted where it is (as an exited worker); the next fold goes on.
      .catch((error: unknown) => console.error(`gateway worker ${entry.worker.process.pid}: its last metrics could not be kept apart: ${String(error)}`));
  }
}
