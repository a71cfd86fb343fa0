import { readSettings } from '@fedstack/runtime';
import { EMBEDDED_REPLICA_SETTINGS, createScratchDatabases, databaseLayout, prepareDatabases, seedDemoData, type ScratchDatabases } from '@fedstack/shared-db';
import { copyDatabase, queryAt } from '@fedstack/shared-db/testing';
import { workerDatabaseSettings } from './worker-urls';

declare global {
  // Shared with global-teardown, which Jest runs in the same process.
  var __scratchDatabases: ScratchDatabases | undefined;
}

/**
 * Fresh databases for this run, on DATABASE_URL's server or an embedded PostgreSQL of their own, in the
 * layout DB_LAYOUT names (shared by default; `DB_LAYOUT=split npm test` gives every service a database of
 * its own): roles, migrations, grants and demo data, as `npm start` prepares them. They are templates:
 * each Jest worker gets a copy of its own (`<database>_w<worker>`, test/worker-env.ts points its files at
 * it), so that test files running at the same time never see each other's rows, and assertions on totals,
 * counts and the newest entry hold. Test workers inherit the settings that place the templates.
 * `DB_REPLICAS=1 npm test` gives the embedded server a streaming replica, and every test its replica
 * settings (each worker's copy is replicated like everything else).
 */
export default async function globalSetup(globalConfig: { maxWorkers: number }): Promise<void> {
  // Every project that needs the database names this setup; the first prepares it for all.
  if (globalThis.__scratchDatabases) return;
  // The suite registers hundreds of users, and fails hundreds of sign-ins on purpose (the hostile-input
  // table), from this one address; the tests of those limits set their own.
  process.env.REGISTER_MAX_PER_ADDRESS ??= '1000000';
  process.env.LOGIN_MAX_FAILURES_PER_ADDRESS ??= '1000000';
  const layout = databaseLayout();
  const scratch = await createScratchDatabases(layout, process.env, { replicas: readSettings(process.env, EMBEDDED_REPLICA_SETTINGS).DB_REPLICAS });
  const workers = Array.from({ length: Math.max(1, globalConfig.maxWorkers) }, (_unused, index) => index + 1);
  globalThis.__scratchDatabases = {
    env: scratch.env,
    async drop() {
      // The copies first: the embedded server, if there is one, stops with the templates' drop.
      for (const worker of workers) {
        for (const url of Object.values(workerDatabaseSettings(primaries(scratch.env), worker))) {
          const server = new URL(url);
          server.pathname = '/postgres';
          await queryAt(server.toString(), `DROP DATABASE IF EXISTS "${new URL(url).pathname.slice(1)}" WITH (FORCE)`);
        }
      }
      await scratch.drop();
    },
  };
  // Split: each service's own URL places it, as an operator who moved every service out would set them.
  if (layout === 'split') {
    delete process.env.DATABASE_URL;
    delete process.env.DB_LAYOUT;
  }
  Object.assign(process.env, scratch.env);
  await prepareDatabases(process.env, { quiet: true });
  await seedDemoData(process.env);
  await Promise.all(
    workers.flatMap((worker) =>
      Object.entries(workerDatabaseSettings(primaries(scratch.env), worker)).map(([variable, url]) =>
        copyDatabase(scratch.env[variable] as string, new URL(url).pathname.slice(1)),
      ),
    ),
  );
  process.env.TEST_DATABASE_TEMPLATES = JSON.stringify(scratch.env);
}

/** The settings that place databases, without those that place their replicas (which hold the same databases, read-only). */
function primaries(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([variable]) => variable.endsWith('DATABASE_URL')));
}
