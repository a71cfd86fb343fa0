// One-off connections for set-up and checks, failing with one line that names the setting and the problem; whether two of them reach one database.
import { randomInt } from 'node:crypto';
import pg from 'pg';
import { explainConnectionError } from './errors';

/** Connects, or fails with one line that names the setting and the problem. */
export async function connectOrExplain(url: string, setting: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  // A connection the server ends (a restart) fails the statement under way or the next one, which the
  // caller sees; its 'error' event, unheard, would end the process instead.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw explainConnectionError(error, url, setting);
  }
  return client;
}

/** Runs `work` on a one-off connection, which is ended whatever happens. */
export async function withClient<R>(url: string, setting: string, work: (client: pg.Client) => Promise<R>): Promise<R> {
  const client = await connectOrExplain(url, setting);
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * Whether two connections reach one database, whatever their URLs say (`localhost` and `127.0.0.1`, a
 * pooler and the server): the source holds an advisory lock of a random key, and the target looks for it
 * among its own database's locks. Taken for two, the source would be verified against itself and retired,
 * leaving the schema nowhere.
 */
export async function sameDatabase(source: pg.Client, target: pg.Client): Promise<boolean> {
  const [high, low] = [randomInt(2 ** 31), randomInt(2 ** 31)];
  await source.query('SELECT pg_advisory_lock($1, $2)', [high, low]);
  try {
    const { rows } = await target.query<{ held: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::int::oid AND objid = $2::int::oid AND objsubid = 2
                        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())) AS held`,
      [high, low],
    );
    return rows[0]?.held === true;
  } finally {
    await source.query('SELECT pg_advisory_unlock($1, $2)', [high, low]);
  }
}
