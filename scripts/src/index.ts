// What the launcher offers others (the benchmark): planning, starting, awaiting and stopping the stack's processes, and the first query.
export * from './processes';
export { firstQuery, launcherManifest } from './first-query';
