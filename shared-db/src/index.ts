// What shared-db offers: each service's client and row types, connections in either layout, roles, grants, migrations, db:split, demo data.
export { serviceRole } from './services';
export { GRANTS, grantStatements, type TableAccess } from './grants';
export {
  DATABASE_LAYOUTS,
  databaseLayout,
  describeLayout,
  databaseIdentity,
  serviceConnection,
  allServiceConnections,
  ownerUrlFor,
  DATABASE_SETTINGS,
  SHARED_DATABASE_SETTINGS,
  serviceUrlVariable,
  developmentPasswordSettings,
  serviceReplicaConnections,
  serviceReplicaUrlVariable,
  replicaMaxLagMs,
  REPLICA_SETTINGS,
  SHARED_REPLICA_SETTINGS,
  type DatabaseLayout,
  type ServiceConnection,
  type ReplicaConnection,
} from './config';
export type { ReplicaStats, ReadsServed } from './replicas';
export { DatabaseUnavailableError, explainConnectionError, describeTarget, isDatabaseUnavailable, isStatementCancelled } from './errors';
export { POOL_TIMEOUT_MS, boundedPool } from './pool-bounds';
export {
  createServiceClient,
  type ServiceClient,
  type ServiceTransaction,
  type ServiceClientOptions,
  type QueryEvent,
  type PoolStats,
  type PreparedStatement,
  type SqlTransaction,
} from './client';
export { connectOrExplain } from './connections';
export { ensureDatabase, ensureServiceRole, applyGrants, prepareDatabases } from './setup';
export { SPLIT_COPIED, assertMigrated } from './checks';
export { migrationNames, runPrismaCli } from './prisma-cli';
export { FIRST_MIGRATION } from './legacy-history';
export { moveService, type MoveReport, type MoveOptions } from './move';
export { startEmbeddedPostgres, type RunningPostgres } from './embedded';
export { startEmbeddedReplica, type EmbeddedReplicaOptions } from './replica';
export {
  provisionServer,
  createScratchDatabases,
  EMBEDDED_SETTINGS,
  EMBEDDED_REPLICA_SETTINGS,
  type ProvisionedServer,
  type ScratchDatabases,
  type SupervisedServer,
} from './provision';
export { seedDemoData, DEMO_ADMIN, DEMO_USER_PASSWORD, type SeedReport } from './seed';
export { hashPassword, verifyPassword, passwordNeedsRehash, unmatchableHash, loadPasswordHashing, PASSWORD_HASH_OPTIONS } from './passwords';
/** Exact decimals and Prisma's errors, the same class whichever service's client raised them. */
export { Decimal, PrismaClientKnownRequestError } from '@prisma/client/runtime/client';
/** Each service's generated types (model inputs, filters, JSON values). */
export type { Prisma as AuthPrisma } from './generated/auth/client';
export type { Prisma as ProfilePrisma } from './generated/profile/client';
export type { Prisma as PaymentsPrisma } from './generated/payments/client';
export type { Prisma as AdminPrisma } from './generated/admin/client';
/** Row types, one per table, as Prisma returns them. */
export type { User as UserRecord, PasswordCredential as PasswordCredentialRecord, Session as SessionRecord, Role, UserStatus } from './generated/auth/client';
export type { Profile as ProfileRecord } from './generated/profile/client';
export type { Payment as PaymentRecord, Refund as RefundRecord, IdempotencyRecord as IdempotencyRecordRow, PaymentStatus } from './generated/payments/client';
export type { AuditEntry as AuditEntryRecord } from './generated/admin/client';
