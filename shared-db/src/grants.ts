import type { Service } from './services';

/**
 * The grants matrix: the one place that says what each service role may do. A service owns its own
 * schema's tables (read and write, never TRUNCATE or DDL); any access to another service's tables is
 * listed here column by column, and nowhere else. `applyGrants` turns it into SQL; the grants test
 * probes PostgreSQL for what each role can really do.
 */
export interface TableAccess {
  /** `true` is the whole table; a list restricts the privilege to those columns. */
  readonly select?: true | readonly string[];
  readonly insert?: true | readonly string[];
  readonly update?: true | readonly string[];
  readonly delete?: true;
}

const OWNS: TableAccess = { select: true, insert: true, update: true, delete: true };

const USER_PUBLIC_COLUMNS = ['id', 'email', 'role', 'status', 'created_at', 'updated_at', 'last_login_at', 'erased_at'];
const SESSION_PUBLIC_COLUMNS = ['id', 'user_id', 'family_id', 'created_at', 'expires_at', 'rotated_at', 'revoked_at', 'revoked_reason'];

export const GRANTS = {
  user: {
    table: 'auth.users',
    access: {
      auth: OWNS,
      // Suspend, reinstate, change role, erase (tombstone the email).
      admin: { select: USER_PUBLIC_COLUMNS, update: ['email', 'role', 'status', 'updated_at', 'erased_at'] },
      // A refund checks that its admin is still an active admin, not only what the token says.
      payments: { select: ['id', 'role', 'status', 'erased_at'] },
    },
  },
  passwordCredential: {
    table: 'auth.password_credentials',
    // Erasure deletes credentials; nobody but auth may read a password hash.
    access: { auth: OWNS, admin: { select: ['user_id'], delete: true } },
  },
  session: {
    table: 'auth.sessions',
    // Suspension revokes sessions, erasure deletes them; token hashes stay unreadable.
    access: { auth: OWNS, admin: { select: SESSION_PUBLIC_COLUMNS, update: ['revoked_at', 'revoked_reason'], delete: true } },
  },
  loginThrottle: {
    table: 'auth.login_throttles',
    // Erasure removes the per-account counter, whose key holds the email.
    access: { auth: OWNS, admin: { select: ['key'], delete: true } },
  },
  profile: {
    table: 'profile.profiles',
    access: { profile: OWNS, admin: { select: true, delete: true } },
  },
  payment: {
    table: 'payments.payments',
    // Statistics read payments; erasure clears their personal details.
    access: {
      payments: OWNS,
      admin: { select: true, update: ['description', 'method_last4', 'anonymised_at', 'updated_at'] },
    },
  },
  refund: {
    table: 'payments.refunds',
    access: { payments: OWNS, admin: { select: true } },
  },
  idempotencyRecord: {
    table: 'payments.idempotency_records',
    access: { payments: OWNS, admin: { select: ['user_id'], delete: true } },
  },
  auditEntry: {
    table: 'admin.audit_entries',
    // Append-only: a refund writes its audit entry in the payments transaction.
    access: { admin: { select: true, insert: true }, payments: { insert: true } },
  },
} as const satisfies Record<string, { table: string; access: Partial<Record<Service, TableAccess>> }>;

type Grants = typeof GRANTS;
/** A Prisma model, named as the client's property (`prisma.user`, `prisma.auditEntry`...). */
export type ModelName = keyof Grants;

/** The models of a service's own schema. */
export type OwnModels<S extends Service> = {
  [M in ModelName]: Grants[M]['table'] extends `${S}.${string}` ? M : never;
}[ModelName];

/** Every model a service role has some privilege on, its own and other schemas'. */
export type ReachableModels<S extends Service> = {
  [M in ModelName]: S extends keyof Grants[M]['access'] ? M : never;
}[ModelName];

const PRIVILEGES = ['select', 'insert', 'update', 'delete'] as const;

function quoteTable(table: string): string {
  return table
    .split('.')
    .map((part) => `"${part}"`)
    .join('.');
}

/**
 * The SQL that makes PostgreSQL's privileges equal the matrix: everything is revoked first, so that
 * running it again, or after the matrix narrowed, leaves exactly what the matrix says.
 */
export function grantStatements(roles: Record<Service, string>): string[] {
  const tables = Object.values(GRANTS).map((entry) => entry.table);
  const schemas = [...new Set(tables.map((table) => table.split('.')[0] as string))];
  const statements: string[] = [];
  for (const role of Object.values(roles)) {
    for (const schema of schemas) {
      statements.push(`REVOKE ALL ON ALL TABLES IN SCHEMA "${schema}" FROM "${role}"`);
      statements.push(`REVOKE ALL ON SCHEMA "${schema}" FROM "${role}"`);
    }
  }
  const usage = new Set<string>();
  for (const { table, access } of Object.values(GRANTS)) {
    for (const [service, rights] of Object.entries(access) as [Service, TableAccess][]) {
      const role = roles[service];
      const schema = table.split('.')[0] as string;
      if (!usage.has(`${schema}:${role}`)) {
        usage.add(`${schema}:${role}`);
        statements.push(`GRANT USAGE ON SCHEMA "${schema}" TO "${role}"`);
      }
      for (const privilege of PRIVILEGES) {
        const scope = rights[privilege];
        if (scope === undefined) continue;
        const columns = scope === true ? '' : ` (${scope.map((column) => `"${column}"`).join(', ')})`;
        statements.push(`GRANT ${privilege.toUpperCase()}${columns} ON ${quoteTable(table)} TO "${role}"`);
      }
    }
  }
  return statements;
}
