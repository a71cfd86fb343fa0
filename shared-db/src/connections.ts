// One-off connections for set-up and checks, failing with one line that names the setting and the problem.
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
