import pg from 'pg';
import { databaseIdentity, ownerUrlFor, serviceConnection } from './config';
import { SERVICES, type Service } from '@fedstack/runtime';
import { serviceRole } from './services';
import { ownerQuery } from './testing';

/**
 * What each role can really do, written out by hand rather than derived from the grants matrix, so that
 * widening one grant anywhere (in grants.ts or straight in the database) fails this test. `*` means every
 * column; no entry means no privilege at all. A role reaches its own schema and nothing else, in either
 * layout: sharing a database, it has no privilege on the others' schemas; with databases of their own, it
 * cannot even connect to the others'.
 */
const OWNS = 'select(*) insert(*) update(*) delete';
const HISTORY = 'select(*)';
const ACCOUNT_VIEW = { account_states: OWNS, revoked_sessions: OWNS };
const CALL_TOKENS = { internal_call_tokens: 'select(*) insert(*) update(expires_at) delete' };
const EXPECTED: Record<Service, Record<string, string>> = {
  auth: {
    _prisma_migrations: HISTORY,
    users: OWNS,
    password_credentials: OWNS,
    sessions: OWNS,
    rate_limits: OWNS,
    outbox: OWNS,
    erasures: OWNS,
    ...CALL_TOKENS,
  },
  profile: { _prisma_migrations: HISTORY, profiles: OWNS, erasures: OWNS, ...ACCOUNT_VIEW, ...CALL_TOKENS },
  payments: {
    _prisma_migrations: HISTORY,
    payments: OWNS,
    refunds: OWNS,
    idempotency_records: OWNS,
    outbox: OWNS,
    erasures: OWNS,
    ...ACCOUNT_VIEW,
    ...CALL_TOKENS,
  },
  admin: {
    _prisma_migrations: HISTORY,
    audit_entries: 'select(*) insert(*)',
    audit_details: 'select(*) insert(*) delete',
    erasure_requests: OWNS,
    ...ACCOUNT_VIEW,
    ...CALL_TOKENS,
  },
};

/** A schema's tables and their columns, as the owner of its database sees them. */
async function tablesOf(schema: Service): Promise<Map<string, string[]>> {
  const rows = await ownerQuery<{ table_name: string; column_name: string }>(
    schema,
    `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = $1 ORDER BY column_name`,
    [schema],
  );
  const tables = new Map<string, string[]>();
  for (const row of rows) tables.set(row.table_name, [...(tables.get(row.table_name) ?? []), row.column_name]);
  return tables;
}

/** The service's role, connected to the database that holds `schema`; null when PostgreSQL refuses the connection. */
async function connectAs(service: Service, schema: Service): Promise<pg.Client | null> {
  const url = new URL(serviceConnection(service).url);
  url.pathname = new URL(ownerUrlFor(schema)).pathname;
  const client = new pg.Client(url.toString());
  try {
    await client.connect();
    return client;
  } catch (error) {
    await client.end().catch(() => undefined);
    // Refused CONNECT on the database, or no such role on that server.
    if (['42501', '28000', '28P01'].includes((error as { code?: string }).code ?? '')) return null;
    throw error;
  }
}

/** Runs a statement that touches no row; true if PostgreSQL allowed it, false if it refused the privilege. */
async function allowed(client: pg.Client, sql: string): Promise<boolean> {
  try {
    await client.query(sql);
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === '42501') return false;
    throw error;
  }
}

function summary(privilege: string, granted: string[], all: string[]): string | undefined {
  if (granted.length === 0) return undefined;
  return `${privilege}(${granted.length === all.length ? '*' : granted.join(',')})`;
}

/** Probes, column by column, what the role may select, insert and update, and whether it may delete. */
async function probe(client: pg.Client, schema: string, table: string, columns: string[]): Promise<string> {
  const quoted = `"${schema}"."${table}"`;
  const granted = { select: [] as string[], insert: [] as string[], update: [] as string[] };
  for (const column of columns) {
    if (await allowed(client, `SELECT "${column}" FROM ${quoted} WHERE false`)) granted.select.push(column);
    if (await allowed(client, `INSERT INTO ${quoted} ("${column}") SELECT NULL WHERE false`)) granted.insert.push(column);
    if (await allowed(client, `UPDATE ${quoted} SET "${column}" = DEFAULT WHERE false`)) granted.update.push(column);
  }
  const canDelete = await allowed(client, `DELETE FROM ${quoted} WHERE false`);
  return [
    summary('select', granted.select, columns),
    summary('insert', granted.insert, columns),
    summary('update', granted.update, columns),
    canDelete ? 'delete' : undefined,
  ]
    .filter(Boolean)
    .join(' ');
}

const sameDatabase = (a: Service, b: Service) => databaseIdentity(ownerUrlFor(a)) === databaseIdentity(ownerUrlFor(b));

describe('grants matrix, as PostgreSQL enforces it', () => {
  const pairs = SERVICES.flatMap((service) => SERVICES.map((schema) => [service, schema] as const));

  it('covers all 16 service × schema pairs', () => {
    expect(pairs).toHaveLength(16);
  });

  it.each(pairs)('%s_svc on schema %s', async (service, schema) => {
    const client = await connectAs(service, schema);
    if (!client) {
      // Only another service's database may turn the role away; its own never does.
      expect({ service, schema, refusedTheConnection: true }).toEqual({
        service,
        schema,
        refusedTheConnection: service !== schema && !sameDatabase(service, schema),
      });
      return;
    }
    try {
      expect({ service, schema, connected: true }).toEqual({ service, schema, connected: service === schema || sameDatabase(service, schema) });
      const tables = await tablesOf(schema);
      expect(tables.size).toBeGreaterThan(0);
      const actual: Record<string, string> = {};
      for (const [table, columns] of tables) {
        const access = await probe(client, schema, table, columns);
        if (access) actual[table] = access;
      }
      expect(actual).toEqual(service === schema ? EXPECTED[service] : {});
    } finally {
      await client.end();
    }
  });

  it("refuses every role but auth_svc the password and token hashes, with PostgreSQL's own error", async () => {
    for (const service of SERVICES.filter((s) => s !== 'auth')) {
      const client = await connectAs(service, 'auth');
      if (!client) continue;
      try {
        await expect(client.query('SELECT password_hash FROM auth.password_credentials')).rejects.toThrow(/permission denied/);
        await expect(client.query('SELECT token_hash FROM auth.sessions')).rejects.toThrow(/permission denied/);
      } finally {
        await client.end();
      }
    }
    const auth = (await connectAs('auth', 'auth')) as pg.Client;
    try {
      const { rows } = await auth.query<{ password_hash: string }>('SELECT password_hash FROM auth.password_credentials LIMIT 1');
      expect(rows[0]?.password_hash).toMatch(/^\$argon2id\$/);
    } finally {
      await auth.end();
    }
  });

  it('lets no service role change or remove an audit entry, and stops the owner too', async () => {
    for (const service of SERVICES) {
      const client = await connectAs(service, 'admin');
      if (!client) continue;
      try {
        await expect(client.query(`UPDATE admin.audit_entries SET action = 'tampered'`)).rejects.toThrow(/permission denied/);
        await expect(client.query('DELETE FROM admin.audit_entries')).rejects.toThrow(/permission denied/);
      } finally {
        await client.end();
      }
    }
    const entries = () => ownerQuery<{ id: string; action: string }>('admin', 'SELECT id, action FROM admin.audit_entries');
    const before = await entries();
    expect(before.length).toBeGreaterThan(0);
    await expect(ownerQuery('admin', `UPDATE admin.audit_entries SET action = 'tampered'`)).rejects.toThrow(/append-only/);
    await expect(ownerQuery('admin', 'DELETE FROM admin.audit_entries')).rejects.toThrow(/append-only/);
    await expect(ownerQuery('admin', 'TRUNCATE admin.audit_entries, admin.audit_details')).rejects.toThrow(/append-only/);
    // Every entry that was there is still there, unchanged (whatever else is added meanwhile).
    const after = new Map((await entries()).map(({ id, action }) => [id, action]));
    expect(before.filter(({ id, action }) => after.get(id) !== action)).toEqual([]);
  });

  it.each(SERVICES)('gives %s_svc no power beyond logging in', async (service) => {
    const [row] = await ownerQuery(
      service,
      `SELECT rolsuper, rolcreatedb, rolcreaterole, rolinherit, rolcanlogin, rolbypassrls FROM pg_roles WHERE rolname = $1`,
      [serviceRole(service)],
    );
    expect(row).toEqual({ rolsuper: false, rolcreatedb: false, rolcreaterole: false, rolinherit: false, rolcanlogin: true, rolbypassrls: false });
  });
});
