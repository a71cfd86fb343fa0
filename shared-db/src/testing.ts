// Helpers for tests that set up or check data behind the services' backs, in either layout.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { ownerUrlFor } from './config';
import type { RunningPostgres } from './embedded';
import { SERVICES, type Service } from '@fedstack/runtime';

const SCHEMA_QUALIFIER = new RegExp(`\\b(${SERVICES.join('|')})\\.[a-z_"]`, 'g');

/** Runs `work` on a connection of its own to `url`, closed afterwards. */
async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Runs one statement on a connection of its own to `url`. */
export function queryAt<R extends pg.QueryResultRow>(url: string, text: string, params: unknown[] = []): Promise<R[]> {
  return withClient(url, async (client) => (await client.query<R>(text, params)).rows);
}

/**
 * The plan PostgreSQL picks for one statement with `params`, sequential scans discouraged
 * (enable_seqscan off): what it does with an index, whatever the table's size. A `Seq Scan` left in it
 * means no index serves the statement.
 */
export function planOf(service: Service, text: string, params: unknown[] = []): Promise<string> {
  return withClient(ownerUrlFor(service), async (client) => {
    await client.query('SET enable_seqscan = off');
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (COSTS OFF) ${text}`, params);
    return rows.map((row) => row['QUERY PLAN']).join('\n');
  });
}

/**
 * Opens a transaction as the owner of `service`'s database and runs `text` in it (a `FOR UPDATE`, or a change
 * another transaction of the service would make): its locks are held until `release` rolls it back or
 * `commit` commits it.
 */
export async function heldTransaction(service: Service, text: string, params: unknown[] = []): Promise<{ release(): Promise<void>; commit(): Promise<void> }> {
  const client = new pg.Client(ownerUrlFor(service));
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query(text, params);
  } catch (error) {
    await client.end();
    throw error;
  }
  const end = async (command: 'ROLLBACK' | 'COMMIT') => {
    try {
      await client.query(command);
    } finally {
      await client.end();
    }
  };
  return { release: () => end('ROLLBACK'), commit: () => end('COMMIT') };
}

/** Runs one statement as the owner of a service's database. */
export function ownerQuery<R extends pg.QueryResultRow>(service: Service, text: string, params: unknown[] = []): Promise<R[]> {
  return queryAt<R>(ownerUrlFor(service), text, params);
}

/**
 * Runs one statement as the owner of the database that holds the one schema it names (`auth.users`...),
 * so that the same fixture works whether the services share a database or not. A statement naming two
 * services' schemas is refused: no database need hold both.
 */
export function ownerSql<R extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<R[]> {
  const schemas = new Set([...text.matchAll(SCHEMA_QUALIFIER)].map((match) => match[1] as Service));
  if (schemas.size !== 1) {
    throw new Error(`ownerSql needs a statement that names one service's schema; this one names ${[...schemas].join(' and ') || 'none'}`);
  }
  return ownerQuery<R>([...schemas][0] as Service, text, params);
}

/** Every table of the schemas named, with its row count (not the migration histories), as the owner of `url` sees them. */
export function rowCounts(url: string, schemas: readonly string[]): Promise<{ table: string; rows: number }[]> {
  return queryAt<{ table: string; rows: number }>(
    url,
    `SELECT n.nspname || '.' || c.relname AS table,
            (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text::int AS rows
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = ANY($1) AND c.relkind = 'r' AND c.relname <> '_prisma_migrations' ORDER BY 1`,
    [schemas],
  );
}

/**
 * A new, empty database on the server this test run uses (whichever layout), for tests that need one of
 * their own; `drop` removes it.
 */
export async function scratchDatabase(label: string): Promise<{ url: string; drop(): Promise<void> }> {
  const server = new URL(ownerUrlFor('auth'));
  const name = `${server.pathname.slice(1)}_${label}_${randomBytes(3).toString('hex')}`;
  const admin = async (sql: string) => void (await queryAt(server.toString(), sql));
  await admin(`CREATE DATABASE "${name}"`);
  const url = new URL(server);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`) };
}

/**
 * A copy of the database `templateUrl` names, as `name` on the same server, with the same privileges on
 * the database itself: `CREATE DATABASE … TEMPLATE` copies what is in a database, not who may connect to
 * it (a service's own database admits only its role). Nobody may be connected to the template meanwhile.
 * Returns the copy's URL, as the same user.
 */
export async function copyDatabase(templateUrl: string, name: string): Promise<string> {
  const template = decodeURIComponent(new URL(templateUrl).pathname.slice(1));
  const server = new URL(templateUrl);
  server.pathname = '/postgres';
  await withClient(server.toString(), async (client) => {
    const copy = client.escapeIdentifier(name);
    await client.query(`CREATE DATABASE ${copy} TEMPLATE ${client.escapeIdentifier(template)}`);
    const { rows } = await client.query<{ grantee: string | null; privilege: string }>(
      `SELECT CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END AS grantee, a.privilege_type AS privilege
       FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = $1`,
      [template],
    );
    // No rows: the template has the default privileges, which the copy has too.
    if (rows.length > 0) await client.query(`REVOKE ALL ON DATABASE ${copy} FROM PUBLIC`);
    for (const { grantee, privilege } of rows) {
      await client.query(`GRANT ${privilege} ON DATABASE ${copy} TO ${grantee === null ? 'PUBLIC' : client.escapeIdentifier(grantee)}`);
    }
  });
  const url = new URL(templateUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Stops (or, with SIGCONT, resumes) a server and every process of it: its connections stay open and nothing answers, as on a frozen host. */
export function signalServer(server: RunningPostgres, signal: 'SIGSTOP' | 'SIGCONT'): void {
  const children = readdirSync('/proc').filter((entry) => {
    try {
      return /^\d+$/.test(entry) && Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.split(' ')[1]) === server.pid;
    } catch {
      return false; // gone meanwhile
    }
  });
  for (const pid of [server.pid, ...children.map(Number)]) {
    try {
      process.kill(pid, signal);
    } catch (error) {
      // A backend that ended between the listing and the signal (its client gone) has nothing to stop.
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH' || pid === server.pid) throw error;
    }
  }
}

/**
 * The embedded PostgreSQL of `env` (EMBEDDED_PG_DATA_DIR, EMBEDDED_PG_PORT) held running by another
 * process, as `npm start` or a `db:*` command holds it, from the built package (the embedded server is an
 * ES module Jest cannot load). `up` gives the server's process id; `stop` ends the holder, which stops it.
 */
export function holdEmbeddedServer(env: NodeJS.ProcessEnv): { up: Promise<number>; stop(): Promise<void> } {
  const provision = path.resolve(__dirname, '..', 'dist', 'provision.js');
  const holder = spawn(
    process.execPath,
    [
      '-e',
      `require(${JSON.stringify(provision)}).provisionServer().then((server) => {
         console.log('up');
         process.stdin.on('end', () => server.stop().then(() => process.exit(0)));
         process.stdin.resume();
       });`,
    ],
    { env: { PATH: process.env.PATH, ...env }, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const exited = new Promise((resolve) => holder.once('exit', resolve));
  const up = new Promise<number>((resolve, reject) => {
    holder.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('up'))
        resolve(Number(readFileSync(path.join(env.EMBEDDED_PG_DATA_DIR as string, 'postmaster.pid'), 'utf8').split('\n')[0]));
    });
    holder.once('exit', (code) => reject(new Error(`the process holding the embedded PostgreSQL exited with ${code}`)));
  });
  return {
    up,
    async stop() {
      holder.stdin.end();
      await exited;
    },
  };
}
