import os from 'node:os';
import { integer, setting } from '@fedstack/runtime';

/** What `npm run bench` reads. */
export const BENCH_SETTINGS = {
  BENCH_WARMUP_SECONDS: setting(integer(3, { max: 600 }), 'benchmark: warm-up before each row', '3'),
  BENCH_ROUNDS: setting(integer(3, { max: 100 }), 'benchmark: measured rounds per row (the median is reported)', '3'),
  BENCH_ROUND_SECONDS: setting(integer(8, { max: 3600 }), 'benchmark: length of one round', '8'),
  BENCH_CONNECTIONS: setting(integer(16, { max: 10_000 }), 'benchmark: concurrent clients', '16'),
  BENCH_GATEWAY_WORKERS: setting(integer(os.availableParallelism(), { max: 64 }), "benchmark: gateway workers (ours and the peers')", 'one per core'),
};
