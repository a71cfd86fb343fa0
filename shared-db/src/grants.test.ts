import pg from 'pg';
import { ownerUrl, serviceConnection } from './config';
import { SERVICES, type Service, serviceRole } from './services';

/**
 * What each role can really do, written out by hand rather than derived from the grants matrix, so that
 * widening one grant anywhere (in grants.ts or straight in the database) fails this test.
 * `*` means every column; no entry means no privilege at all.
 */
const OWNS = 'select(*) insert(*) update(*) delete';
const EXPECTED: Record<Service, Record<string, string>> = {
  auth: {
    'auth.users': OWNS,
    'auth.password_credentials': OWNS,
    'auth.sessions': OWNS,
    'auth.login_throttles': OWNS,
  },
  profile: {
    'profile.profiles': OWNS,
  },
  payments: {
    'payments.payments': OWNS,
    'payments.refunds': OWNS,
    'payments.idempotency_records': OWNS,
    'admin.audit_entries': 'insert(*)',
    'auth.users': 'select(erased_at,id,role,status)',
  },
  admin: {
    'auth.users': 'select(*) update(email,erased_at,role,status,updated_at)',
    'auth.password_credentials': 'select(user_id) delete',
    'auth.sessions':
      'select(created_at,expires_at,family_id,id,revoked_at,revoked_reason,rotated_at,user_id) update(revoked_at,revoked_reason) delete',
    'auth.login_throttles': 'select(key) delete',
    'profile.profiles': 'select(*) delete',
    'payments.payments': 'select(*) update(anonymised_at,description,method_last4,updated_at)',
    'payments.refunds': 'select(*)',
    'payments.idempotency_records': 'select(user_id) delete',
    'admin.audit_entries': 'select(*) insert(*)',
  },
};

type Columns = Map<string, string[]>;

async function tablesBySchema(): Promise<Map<Service, Columns>> {
  const owner = new pg.Client(ownerUrl());
  await owner.connect();
  try {
    const { rows } = await owner.query<{ table_schema: Service; table_name: string; column_name: string }>(
      `SELECT table_schema, table_name, column_name FROM information_schema.columns
       WHERE table_schema = ANY($1) AND table_name <> '_prisma_migrations' ORDER BY column_name`,
      [SERVICES],
    );
    const result = new Map<Service, Columns>(SERVICES.map((schema) => [schema, new Map()]));
    for (const row of rows) {
      const columns = result.get(row.table_schema) as Columns;
      const table = `${row.table_schema}.${row.table_name}`;
      columns.set(table, [...(columns.get(table) ?? []), row.column_name]);
    }
    return result;
  } finally {
    await owner.end();
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

function describe_(privilege: string, granted: string[], all: string[]): string | undefined {
  if (granted.length === 0) return undefined;
  return `${privilege}(${granted.length === all.length ? '*' : granted.join(',')})`;
}

/** Probes, column by column, what the role may select, insert and update, and whether it may delete. */
async function probe(client: pg.Client, table: string, columns: string[]): Promise<string> {
  const quoted = table.replace(/(\w+)\.(\w+)/, '"$1"."$2"');
  const granted = { select: [] as string[], insert: [] as string[], update: [] as string[] };
  for (const column of columns) {
    if (await allowed(client, `SELECT "${column}" FROM ${quoted} WHERE false`)) granted.select.push(column);
    if (await allowed(client, `INSERT INTO ${quoted} ("${column}") SELECT NULL WHERE false`)) granted.insert.push(column);
    if (await allowed(client, `UPDATE ${quoted} SET "${column}" = DEFAULT WHERE false`)) granted.update.push(column);
  }
  const canDelete = await allowed(client, `DELETE FROM ${quoted} WHERE false`);
  return [
    describe_('select', granted.select, columns),
    describe_('insert', granted.insert, columns),
    describe_('update', granted.update, columns),
    canDelete ? 'delete' : undefined,
  ]
    .filter(Boolean)
    .join(' ');
}

describe('grants matrix, as PostgreSQL enforces it', () => {
  let schemas: Map<Service, Columns>;
  const clients = new Map<Service, pg.Client>();

  beforeAll(async () => {
    schemas = await tablesBySchema();
    for (const service of SERVICES) {
      const client = new pg.Client(serviceConnection(service).url);
      await client.connect();
      clients.set(service, client);
    }
  });
  afterAll(async () => {
    await Promise.all([...clients.values()].map((client) => client.end()));
  });

  const pairs = SERVICES.flatMap((service) => SERVICES.map((schema) => [service, schema] as const));

  it('covers all 16 service × schema pairs', () => {
    expect(pairs).toHaveLength(16);
  });

  it.each(pairs)('%s_svc on schema %s', async (service, schema) => {
    const client = clients.get(service) as pg.Client;
    const columns = schemas.get(schema) as Columns;
    expect(columns.size).toBeGreaterThan(0);
    const actual: Record<string, string> = {};
    for (const [table, tableColumns] of columns) {
      const access = await probe(client, table, tableColumns);
      if (access) actual[table] = access;
    }
    const expected = Object.fromEntries(Object.entries(EXPECTED[service]).filter(([table]) => table.startsWith(`${schema}.`)));
    expect(actual).toEqual(expected);
  });

  it('refuses every role but auth_svc the password and token hashes, with PostgreSQL\'s own error', async () => {
    for (const service of SERVICES.filter((s) => s !== 'auth')) {
      const client = clients.get(service) as pg.Client;
      await expect(client.query('SELECT password_hash FROM auth.password_credentials')).rejects.toThrow(
        /permission denied/,
      );
      await expect(client.query('SELECT token_hash FROM auth.sessions')).rejects.toThrow(/permission denied/);
    }
    const auth = clients.get('auth') as pg.Client;
    const { rows } = await auth.query('SELECT password_hash FROM auth.password_credentials LIMIT 1');
    expect(rows[0].password_hash).toMatch(/^\$argon2id\$/);
  });

  it('lets no service role change or remove an audit entry, and stops the owner too', async () => {
    for (const service of SERVICES) {
      const client = clients.get(service) as pg.Client;
      await expect(client.query(`UPDATE admin.audit_entries SET action = 'tampered'`)).rejects.toThrow(/permission denied/);
      await expect(client.query('DELETE FROM admin.audit_entries')).rejects.toThrow(/permission denied/);
    }
    const owner = new pg.Client(ownerUrl());
    await owner.connect();
    try {
      const before = await owner.query('SELECT count(*)::int AS n FROM admin.audit_entries');
      expect(before.rows[0].n).toBeGreaterThan(0);
      await expect(owner.query(`UPDATE admin.audit_entries SET action = 'tampered'`)).rejects.toThrow(/append-only/);
      await expect(owner.query('DELETE FROM admin.audit_entries')).rejects.toThrow(/append-only/);
      await expect(owner.query('TRUNCATE admin.audit_entries')).rejects.toThrow(/append-only/);
      const after = await owner.query('SELECT count(*)::int AS n FROM admin.audit_entries');
      expect(after.rows[0].n).toBe(before.rows[0].n);
    } finally {
      await owner.end();
    }
  });

  it('gives the service roles no power beyond logging in', async () => {
    const owner = new pg.Client(ownerUrl());
    await owner.connect();
    try {
      const { rows } = await owner.query(
        `SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolinherit, rolcanlogin, rolbypassrls
         FROM pg_roles WHERE rolname = ANY($1) ORDER BY rolname`,
        [SERVICES.map(serviceRole)],
      );
      expect(rows).toHaveLength(4);
      for (const row of rows) {
        expect(row).toMatchObject({ rolsuper: false, rolcreatedb: false, rolcreaterole: false, rolinherit: false, rolcanlogin: true, rolbypassrls: false });
      }
    } finally {
      await owner.end();
    }
  });
});
