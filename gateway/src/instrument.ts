// Tracing, when switched on: imported first by main.ts, so that it sees every module load after it.
import { startTracing } from '@fedstack/runtime/tracing';

export const tracing = startTracing('gateway');
