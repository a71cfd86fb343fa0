import { createScratchDatabase, prepareDatabase, seedDemoData, type ScratchDatabase } from '@fedstack/shared-db';

declare global {
  // Shared with global-teardown, which Jest runs in the same process.
  var __scratchDatabase: ScratchDatabase | undefined;
}

/**
 * A fresh database for this run, on DATABASE_URL's server or an embedded PostgreSQL of its own:
 * roles, migrations, grants and demo data, as `npm start` prepares them. Test workers inherit
 * DATABASE_URL pointing at it.
 */
export default async function globalSetup(): Promise<void> {
  const scratch = await createScratchDatabase();
  globalThis.__scratchDatabase = scratch;
  await prepareDatabase(scratch.ownerUrl, { quiet: true });
  await seedDemoData(scratch.ownerUrl);
  process.env.DATABASE_URL = scratch.ownerUrl;
}
