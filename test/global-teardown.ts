/** Drops this run's database (and stops its embedded PostgreSQL, if it had one). */
export default async function globalTeardown(): Promise<void> {
  await globalThis.__scratchDatabase?.drop();
}
