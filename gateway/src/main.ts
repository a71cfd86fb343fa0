// Runs the gateway (`node gateway/dist/main.js`): as one process, or as GATEWAY_WORKERS processes sharing its port.
import { tracing } from './instrument';
import cluster from 'node:cluster';
import { RESTART_POLICY, RestartBudget, listen, metricsOnly, orExit, readSettings, serve, whenStarterGone } from '@fedstack/runtime';
import { WorkerMetrics } from './cluster-metrics';
import { GATEWAY_PROCESS_SETTINGS, gatewaySettings, loadGatewayConfig } from './config';

/**
 * GATEWAY_WORKERS > 1 runs that many gateway processes sharing the port (node:cluster), so that query
 * planning and result shaping use every core. Each worker is a complete gateway: its own supergraph
 * watch, connection pools and metrics, which the primary serves on METRICS_PORT added up over the
 * workers, so that one scrape sees the whole gateway.
 */
const { GATEWAY_WORKERS: workers, GATEWAY_WORKER_HEAP_MB: workerHeapMb } = orExit(() => readSettings(process.env, GATEWAY_PROCESS_SETTINGS));
/** Each worker's young-generation semispace, in MB (see below; 16 measured well on Node 20 and 24). */
const WORKER_SEMI_SPACE_MB = 16;

if (workers > 1 && cluster.isPrimary) {
  // A bad setting stops the primary with one line, instead of every worker failing in a loop.
  const config = orExit(() => loadGatewayConfig());
  if (config.metricsPort === undefined) {
    console.warn('gateway metrics are not served: with several workers they are served, added up, on METRICS_PORT only');
  } else {
    const metricsServer = metricsOnly(new WorkerMetrics(cluster), config.timeouts);
    listen(metricsServer, config.metricsPort, config.host, 'gateway metrics', 'METRICS_PORT').then(
      ({ url }) => console.log(`gateway metrics (all workers) on ${url}/metrics`),
      (error: Error) => {
        console.error(`error: ${error.message}`);
        process.exit(1);
      },
    );
  }
  let stopping = false;
  let listening = false;
  const restarts = new RestartBudget();
  const pending = new Set<NodeJS.Timeout>();
  cluster.on('listening', () => {
    listening = true;
  });
  // The young generation is set as well: given only an old-space limit, Node 24's V8 sizes the young
  // generation down from it, and a 160 MB worker then spent most of its time collecting garbage (8.5
  // CPU-ms per request in the benchmark's mix instead of 1.6; Node 20 was unaffected).
  cluster.setupPrimary({ execArgv: [...process.execArgv, `--max-old-space-size=${workerHeapMb}`, `--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`] });
  for (let index = 0; index < workers; index += 1) cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      // A worker whose stop failed (its connections not closed within SHUTDOWN_GRACE_MS) fails the gateway's.
      if (code !== 0 && code !== null) process.exitCode = 1;
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(process.exitCode ?? 0);
      return;
    }
    if (!listening) {
      console.error(`error: gateway worker ${worker.process.pid} failed to start (${signal ?? `code ${code}`}); stopping`);
      process.exitCode = 1;
      stop();
      return;
    }
    // After a growing wait, as `npm start` restarts its processes: a worker whose replacement cannot start
    // (a supergraph or manifest the running workers refused, say) is not forked again in a loop. Past the
    // budget, the workers still serving go on (stopping them would turn a bad file into an outage, and a
    // restarted gateway could not start on it either) and another is tried at the longest wait; with none
    // left, the gateway stops, for its supervisor to see.
    const how = signal ?? `code ${code}`;
    const next = restarts.next();
    const serving = Object.keys(cluster.workers ?? {}).length;
    const burst = `${RESTART_POLICY.limit + 1} times within ${RESTART_POLICY.windowMs / 60_000} minutes`;
    if (!next && serving === 0) {
      console.error(`error: gateway workers exited ${burst} and none is left (last: ${how}); stopping`);
      process.exitCode = 1;
      stop();
      return;
    }
    const delayMs = next?.delayMs ?? RESTART_POLICY.maxDelayMs;
    if (!next) console.error(`error: gateway workers keep exiting (${burst}); ${serving} still serving`);
    console.error(`gateway worker ${worker.process.pid} exited (${how}); starting another in ${delayMs / 1000} s`);
    const timer = setTimeout(() => {
      pending.delete(timer);
      if (!stopping) cluster.fork();
    }, delayMs);
    pending.add(timer);
  });
  function stop(): void {
    stopping = true;
    for (const timer of pending) clearTimeout(timer);
    const running = Object.values(cluster.workers ?? {});
    // None left to wait for (each died, its replacement not yet started): nothing will exit to end the primary.
    if (running.length === 0) process.exit(process.exitCode ?? 0);
    for (const worker of running) worker?.kill('SIGTERM');
  }
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  whenStarterGone(() => {
    console.error('gateway: the process that started it has exited; stopping');
    stop();
  });
} else {
  // Required here rather than imported above: the primary of several workers only adds up their metrics,
  // and the gateway's own modules (Apollo Gateway, the query planner) would take about 45 MB of its memory.
  // eslint-disable-next-line @typescript-eslint/no-require-imports, @typescript-eslint/consistent-type-imports -- see above
  const { createGatewayServer } = require('./server') as typeof import('./server');
  serve(
    async () => {
      const clusterWorker = cluster.isWorker;
      const config = loadGatewayConfig();
      // A worker's metrics go to the primary, which alone listens on METRICS_PORT.
      const server = await createGatewayServer({ config: clusterWorker ? { ...config, metricsPort: undefined } : config, clusterWorker });
      await server.listen();
      return server;
    },
    tracing,
    gatewaySettings(),
  );
}
