import { startSubgraphTracing } from '@fedstack/service-kit/tracing';

/** Tracing, when switched on: imported first by main.ts, so that it sees every module load after it. */
export const tracing = startSubgraphTracing('payments');
