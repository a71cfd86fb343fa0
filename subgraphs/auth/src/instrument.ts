// Tracing, when switched on: imported first by main.ts, so that it sees every module load after it.
import { startSubgraphTracing } from '@fedstack/service-kit/tracing';

export const tracing = startSubgraphTracing('auth');
