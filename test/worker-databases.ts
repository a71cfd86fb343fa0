// Where each Jest worker's copy of the run's databases is: test/global-setup.ts makes them, and
// test/worker-env.ts points a test file's settings at its worker's. Global setup hands the workers the
// settings that place the run's databases (the templates, which no test connects to) as a JSON object in
// TEST_DATABASE_TEMPLATES.
import { randomBytes } from 'node:crypto';
import { copyDatabase, queryAt } from '@fedstack/shared-db/testing';

/** Worker `worker`'s copy of the database `templateUrl` names: the same server and user, `<database>_w<worker>`. */
export function workerDatabaseUrl(templateUrl: string, worker: number | string): string {
  const url = new URL(templateUrl);
  url.pathname = `${url.pathname}_w${worker}`;
  return url.toString();
}

/** The settings that place worker `worker`'s databases, from those that place the templates. */
export function workerDatabaseSettings(templates: Record<string, string>, worker: number | string): Record<string, string> {
  return Object.fromEntries(Object.entries(templates).map(([variable, url]) => [variable, workerDatabaseUrl(url, worker)]));
}

/**
 * A copy of the run's database, migrated and seeded, for a test that needs a whole database to change
 * as it likes (`<database>_<label>_<random>`, on the same server), in a fraction of the time migrating a
 * new one takes; `drop` removes it. Undefined in the split layout, where the run has no one database
 * that holds every service.
 */
export async function copyOfRunDatabase(label: string): Promise<{ url: string; drop(): Promise<void> } | undefined> {
  const templates = JSON.parse(process.env.TEST_DATABASE_TEMPLATES ?? '{}') as Record<string, string>;
  const template = templates.DATABASE_URL;
  if (!template || Object.keys(templates).length > 1) return undefined;
  const name = `${new URL(template).pathname.slice(1)}_${label}_${randomBytes(3).toString('hex')}`;
  const url = await copyDatabase(template, name);
  const server = new URL(url);
  server.pathname = '/postgres';
  return { url, drop: async () => void (await queryAt(server.toString(), `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)) };
}

/**
 * The settings that send reads to a streaming replica listening on `port` on the same host: each
 * `…DATABASE_URL` given as `…DATABASE_REPLICA_URL` on the replica's port (a physical replica holds every
 * database of its primary, under the same names).
 */
export function replicaSettings(databases: Record<string, string>, port: number): Record<string, string> {
  return Object.fromEntries(
    Object.entries(databases)
      .filter(([variable]) => variable.endsWith('DATABASE_URL'))
      .map(([variable, url]) => {
        const replica = new URL(url);
        replica.port = String(port);
        return [variable.replace(/DATABASE_URL$/, 'DATABASE_REPLICA_URL'), replica.toString()];
      }),
  );
}
