/** Drops this run's databases (and stops their embedded PostgreSQL, if they had one). */
export default async function globalTeardown(): Promise<void> {
  await globalThis.__scratchDatabases?.drop();
}
