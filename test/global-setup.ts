import { createScratchDatabases, databaseLayout, prepareDatabases, seedDemoData, type ScratchDatabases } from '@fedstack/shared-db';

declare global {
  // Shared with global-teardown, which Jest runs in the same process.
  var __scratchDatabases: ScratchDatabases | undefined;
}

/**
 * Fresh databases for this run, on DATABASE_URL's server or an embedded PostgreSQL of their own, in the
 * layout DB_LAYOUT names (shared by default; `DB_LAYOUT=split npm test` gives every service a database of
 * its own): roles, migrations, grants and demo data, as `npm start` prepares them. Test workers inherit
 * the settings that place them.
 */
export default async function globalSetup(): Promise<void> {
  // Every project that needs the database names this setup; the first prepares it for all.
  if (globalThis.__scratchDatabases) return;
  // The suite registers hundreds of users from this one address; the tests of the limit set their own.
  process.env.REGISTER_MAX_PER_ADDRESS ??= '1000000';
  const layout = databaseLayout();
  const scratch = await createScratchDatabases(layout);
  globalThis.__scratchDatabases = scratch;
  // Split: each service's own URL places it, as an operator who moved every service out would set them.
  if (layout === 'split') {
    delete process.env.DATABASE_URL;
    delete process.env.DB_LAYOUT;
  }
  Object.assign(process.env, scratch.env);
  await prepareDatabases(process.env, { quiet: true });
  await seedDemoData(process.env);
}
