import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { ownerUrl as configuredOwnerUrl, positiveInteger } from './config';
import { freePort, startEmbeddedPostgres } from './embedded';
import { connectOrExplain } from './setup';

/** The repository's root, where the git-ignored `.data/` folder lives. */
export const REPOSITORY_ROOT = path.resolve(__dirname, '..', '..');

export const DEFAULT_EMBEDDED_PORT = 54329;
const DEFAULT_DATABASE = 'fedstack';

export interface ProvisionedServer {
  /** The owner's connection string to the project's database. */
  ownerUrl: string;
  /** True when this process started an embedded PostgreSQL. */
  embedded: boolean;
  /** Stops the embedded server, if one was started; a no-op for `DATABASE_URL`. */
  stop(): Promise<void>;
}

async function ensureDatabase(serverUrl: string, database: string): Promise<string> {
  const client = await connectOrExplain(serverUrl, 'embedded PostgreSQL');
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!exists.rowCount) await client.query(`CREATE DATABASE "${database}"`);
  } finally {
    await client.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/**
 * The database the stack runs on: `DATABASE_URL` when set (checked now, so that a bad setting fails at
 * start with one line), otherwise an embedded PostgreSQL with its data under `.data/postgres`.
 */
export async function provisionServer(
  options: { env?: NodeJS.ProcessEnv; onLog?: (line: string) => void } = {},
): Promise<ProvisionedServer> {
  const env = options.env ?? process.env;
  if (env.DATABASE_URL) {
    const ownerUrl = configuredOwnerUrl(env);
    await (await connectOrExplain(ownerUrl, 'DATABASE_URL')).end();
    return { ownerUrl, embedded: false, stop: async () => undefined };
  }
  const server = await startEmbeddedPostgres({
    dataDir: env.EMBEDDED_PG_DATA_DIR ?? path.join(REPOSITORY_ROOT, '.data', 'postgres'),
    port: positiveInteger(env, 'EMBEDDED_PG_PORT', DEFAULT_EMBEDDED_PORT, 65535),
    ...(options.onLog ? { onLog: options.onLog } : {}),
  });
  try {
    return { ownerUrl: await ensureDatabase(server.url, DEFAULT_DATABASE), embedded: true, stop: server.stop };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

export interface ScratchDatabase {
  ownerUrl: string;
  /** Drops the database (and stops the embedded server, if one was started for it). */
  drop(): Promise<void>;
}

/**
 * A new, empty database for one test run: on `DATABASE_URL`'s server when set, otherwise on an
 * embedded PostgreSQL of its own (temporary data, a free port). Runs never see each other's data.
 */
export async function createScratchDatabase(env: NodeJS.ProcessEnv = process.env): Promise<ScratchDatabase> {
  const name = `fedstack_test_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const server = env.DATABASE_URL
    ? { url: configuredOwnerUrl(env), stop: async () => undefined }
    : await startEmbeddedPostgres({
        dataDir: path.join(os.tmpdir(), name),
        port: await freePort(),
        ephemeral: true,
      });
  const admin = await connectOrExplain(server.url, env.DATABASE_URL ? 'DATABASE_URL' : 'embedded PostgreSQL');
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } catch (error) {
    await admin.end();
    await server.stop();
    throw error;
  }
  await admin.end();
  const url = new URL(server.url);
  url.pathname = `/${name}`;
  return {
    ownerUrl: url.toString(),
    drop: async () => {
      const client = await connectOrExplain(server.url, 'DATABASE_URL');
      try {
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await client.end();
        await server.stop();
      }
    },
  };
}
