export { SERVICES, type Service, serviceRole, isService } from './services';
export { GRANTS, grantStatements, type ModelName, type OwnModels, type ReachableModels, type TableAccess } from './grants';
export {
  serviceConnection,
  allServiceConnections,
  ownerUrl,
  positiveInteger,
  serviceUrlVariable,
  type ServiceConnection,
} from './config';
export { ConfigError, DatabaseUnavailableError, explainConnectionError, describeTarget } from './errors';
export {
  createServiceClient,
  crossServiceTransaction,
  type ServiceClient,
  type ServiceTransaction,
  type CrossServiceTransaction,
  type ServiceClientOptions,
  type QueryEvent,
} from './client';
export { connectOrExplain, ensureServiceRoles, applyGrants, runMigrations, prepareDatabase, runPrismaCli } from './setup';
export { startEmbeddedPostgres, freePort, portIsFree, type RunningPostgres } from './embedded';
export { provisionServer, createScratchDatabase, REPOSITORY_ROOT, type ProvisionedServer, type ScratchDatabase } from './provision';
export { seedDemoData, DEMO_ADMIN, DEMO_USER_PASSWORD, type SeedReport } from './seed';
export { hashPassword, verifyPassword, passwordNeedsRehash, PASSWORD_HASH_OPTIONS } from './passwords';
export { runMain } from './cli/main';
export { Prisma } from './generated/prisma/client';
/** Row types, one per table, as Prisma returns them. */
export type {
  User as UserRecord,
  PasswordCredential as PasswordCredentialRecord,
  Session as SessionRecord,
  LoginThrottle as LoginThrottleRecord,
  Profile as ProfileRecord,
  Payment as PaymentRecord,
  Refund as RefundRecord,
  IdempotencyRecord as IdempotencyRecordRow,
  AuditEntry as AuditEntryRecord,
} from './generated/prisma/client';
export type { Role, UserStatus, PaymentStatus } from './generated/prisma/enums';
