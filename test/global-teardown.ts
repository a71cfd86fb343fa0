/** Drops this run's databases (and stops their embedded PostgreSQL, if they had one), once. */
export default async function globalTeardown(): Promise<void> {
  const scratch = globalThis.__scratchDatabases;
  globalThis.__scratchDatabases = undefined;
  await scratch?.drop();
}
