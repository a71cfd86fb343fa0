// The run's databases as tests use them beyond their worker's own copy (test/worker-urls.ts places that):
// a copy of the run's database for a test to change as it likes, the settings that send reads to a
// replica, the settings that place nothing, and the run's layout.
import { randomBytes } from 'node:crypto';
import { SERVICES } from '@fedstack/runtime';
import { databaseLayout, serviceReplicaUrlVariable, serviceUrlVariable, type DatabaseLayout } from '@fedstack/shared-db';
import { copyDatabase, queryAt } from '@fedstack/shared-db/testing';

/**
 * Every setting that places databases or their replicas, unset: for a test that places the stack's
 * databases itself, so that none of the run's (its worker's copies, their replicas) leaks into it.
 */
export const UNPLACED: Record<string, string> = Object.fromEntries(
  [
    'DATABASE_URL',
    'DB_LAYOUT',
    'DATABASE_REPLICA_URL',
    ...SERVICES.flatMap((service) => [serviceUrlVariable(service), serviceReplicaUrlVariable(service)]),
  ].map((name) => [name, '']),
);

/**
 * A copy of the run's database, migrated and seeded, for a test that needs a whole database to change
 * as it likes (`<database>_<label>_<random>`, on the same server), in a fraction of the time migrating a
 * new one takes: `env` places it (with its replica, in a `DB_REPLICAS=1` run); `drop` removes it.
 * Undefined in the split layout, where the run has no one database that holds every service.
 */
export async function copyOfRunDatabase(label: string): Promise<{ url: string; env: Record<string, string>; drop(): Promise<void> } | undefined> {
  const templates = JSON.parse(process.env.TEST_DATABASE_TEMPLATES ?? '{}') as Record<string, string>;
  const template = templates.DATABASE_URL;
  if (!template || Object.keys(templates).some((variable) => variable.endsWith('DATABASE_URL') && variable !== 'DATABASE_URL')) return undefined;
  const name = `${new URL(template).pathname.slice(1)}_${label}_${randomBytes(3).toString('hex')}`;
  const url = await copyDatabase(template, name);
  const server = new URL(url);
  server.pathname = '/postgres';
  const replica = templates.DATABASE_REPLICA_URL ? new URL(templates.DATABASE_REPLICA_URL) : undefined;
  if (replica) replica.pathname = `/${name}`;
  return {
    url,
    env: { DATABASE_URL: url, ...(replica ? { DATABASE_REPLICA_URL: replica.toString() } : {}) },
    drop: async () => void (await queryAt(server.toString(), `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)),
  };
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

/** The run's layout: split when global setup placed each service's database (DB_LAYOUT=split npm test). */
export function runLayout(): DatabaseLayout {
  return process.env[serviceUrlVariable('auth')] ? 'split' : databaseLayout();
}
