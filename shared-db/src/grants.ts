// The grants matrix: the one place that says what each service role may do. A role reaches its own
// service's schema and nothing else, in either layout: what a service needs from another comes through
// federation or that service's internal API (docs/adr/0006-split-databases.md). Within its schema it may
// read and write its tables (never TRUNCATE or DDL) unless a table says less. `applyGrants` turns this into
// SQL; the grants test probes PostgreSQL for what each role can really do.
import type { Service } from '@fedstack/runtime';

export interface TableAccess {
  /** `true` is the whole table; a list restricts the privilege to those columns. */
  readonly select?: true | readonly string[];
  readonly insert?: true | readonly string[];
  readonly update?: true | readonly string[];
  readonly delete?: true;
}

const OWNS: TableAccess = { select: true, insert: true, update: true, delete: true };
/** Read-only: a service checks at start that its schema is migrated, and never changes the history. */
const MIGRATION_HISTORY: TableAccess = { select: true };

/** Tables every service that keeps a view of account states has (service-kit's account policy). */
const ACCOUNT_VIEW = { account_states: OWNS, revoked_sessions: OWNS } as const;
/**
 * The ids of internal calls a service has accepted (service-kit's internal API refuses a replay): recorded
 * and read in one statement, and removed once expired. No row is ever changed: UPDATE on one column is
 * there only because PostgreSQL asks it of FOR UPDATE, with which replicas pruning at once skip each
 * other's rows rather than wait on them.
 */
const CALL_TOKENS = { internal_call_tokens: { select: true, insert: true, update: ['expires_at'], delete: true } } as const;

export const GRANTS: Record<Service, Record<string, TableAccess>> = {
  auth: {
    _prisma_migrations: MIGRATION_HISTORY,
    users: OWNS,
    password_credentials: OWNS,
    sessions: OWNS,
    rate_limits: OWNS,
    outbox: OWNS,
    erasures: OWNS,
    ...CALL_TOKENS,
  },
  profile: { _prisma_migrations: MIGRATION_HISTORY, profiles: OWNS, erasures: OWNS, ...ACCOUNT_VIEW, ...CALL_TOKENS },
  payments: {
    _prisma_migrations: MIGRATION_HISTORY,
    payments: OWNS,
    refunds: OWNS,
    idempotency_records: OWNS,
    outbox: OWNS,
    erasures: OWNS,
    ...ACCOUNT_VIEW,
    ...CALL_TOKENS,
  },
  admin: {
    _prisma_migrations: MIGRATION_HISTORY,
    // Append-only: no role may change or remove an entry (a trigger stops the owner too).
    audit_entries: { select: true, insert: true },
    // What admins wrote about a user, next to an entry: erasing the user deletes it.
    audit_details: { select: true, insert: true, delete: true },
    erasure_requests: OWNS,
    ...ACCOUNT_VIEW,
    ...CALL_TOKENS,
  },
};

const PRIVILEGES = ['select', 'insert', 'update', 'delete'] as const;

/**
 * The SQL that makes PostgreSQL's privileges on one service's schema equal the matrix: every role named
 * loses everything there first, so that running it again, or after the matrix narrowed, leaves exactly
 * what the matrix says, and no other service's role keeps anything.
 */
export function grantStatements(service: Service, role: string, otherRoles: readonly string[]): string[] {
  const statements: string[] = [];
  for (const name of [role, ...otherRoles]) {
    statements.push(`REVOKE ALL ON ALL TABLES IN SCHEMA "${service}" FROM "${name}"`);
    statements.push(`REVOKE ALL ON SCHEMA "${service}" FROM "${name}"`);
  }
  statements.push(`GRANT USAGE ON SCHEMA "${service}" TO "${role}"`);
  for (const [table, rights] of Object.entries(GRANTS[service])) {
    for (const privilege of PRIVILEGES) {
      const scope = rights[privilege];
      if (scope === undefined) continue;
      const columns = scope === true ? '' : ` (${scope.map((column) => `"${column}"`).join(', ')})`;
      statements.push(`GRANT ${privilege.toUpperCase()}${columns} ON "${service}"."${table}" TO "${role}"`);
    }
  }
  return statements;
}
