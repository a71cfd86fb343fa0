// Background work: one queue primitive over a service's own tables, and the LISTEN connection that wakes it.
export { WorkQueue, backoffMs, type Job, type JobStore, type WorkQueueOptions } from './work-queue';
export { NotificationListener } from './listener';
export { brief } from './brief';
export { ReadinessWatch, type ReadinessWatchOptions } from './readiness-watch';
