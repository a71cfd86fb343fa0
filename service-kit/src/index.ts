// What every subgraph shares: settings, tokens and account policy, the server, internal API, outbox, background work, GraphQL helpers.
export {
  loadServiceConfig,
  serviceSettings,
  loadSubscriptionLimits,
  SUBSCRIPTION_SETTINGS,
  type ServiceConfig,
  type SubscriptionLimits,
  type TokenVerificationConfig,
  type InternalApiConfig,
} from './config';
export { resolveVerificationKey } from './keys';
export {
  createTokenVerifier,
  authenticate,
  optionalViewer,
  requireViewer,
  requireAdmin,
  requireSelfOrAdmin,
  type Viewer,
  type ViewerRole,
  type AccessTokenClaims,
  type TokenVerifier,
  type RequestAuth,
} from './tokens';
export {
  createSubgraphServer,
  type BackgroundWorker,
  type RequestContext,
  type SubgraphDefinition,
  type SubgraphDeps,
  type SubgraphServer,
  type SubgraphServerOptions,
} from './server';
export {
  command,
  eventHandler,
  createInternalClient,
  internalIdentity,
  InternalCallError,
  INTERNAL_JWKS_PATH,
  type CommandHandler,
  type EventHandler,
  type InternalClient,
  type InternalHandlers,
  type InternalIdentity,
} from './internal-api';
export { enqueue, OutboxRelay, type OutgoingEvent, type RawExecutor } from './outbox';
export { WorkQueue, NotificationListener, ReadinessWatch, backoffMs, brief, type Job, type JobStore, type WorkQueueOptions } from './background';
export {
  applyAccountPolicy,
  guardAccountWrite,
  accountView,
  recordAccountChange,
  ACCOUNT_CHANGED,
  ACCOUNT_TOPICS,
  ACCOUNT_VIEW_SERVICES,
  REASON_MAX,
  type AccountSnapshot,
  type AccountStateSource,
  type AccountChanged,
  type ViewerRow,
  type SessionsRevoked,
  type RawQuerier,
} from './accounts';
export { DecimalScalar, scalarResolvers, scalarsFor } from './scalars';
export { checkText, DEFAULT_TEXT_LIMIT, type TextLimits } from './text';
export { encodeCursor, decodeCursor, pageSize, toConnection, type Connection, type ListPosition, type PageInfo } from './pagination';
export { batchLoader, groupedBatchLoader, loaderPerArguments } from './loaders';
export { UUID_ID, canonicalId, entityReference, isUuid, type EntityReference } from './ids';
export { minorUnits, formatAmount, parseDecimal, decimalProblem, MAX_DECIMAL_LENGTH } from './money';
export { erasureCommand, ERASE_COMMAND, ERASE_INPUT, type ErasureChange, type ErasureReport } from './erasure';
export { recordAudit, AUDIT_TOPIC, AUDIT_RECORD, type AuditRecord } from './audit';
export { liveEvents, singleFlight, LiveFeed, UnconfirmedEvent, type LiveSpec, type RowEvent } from './subscriptions';
export { RequestReads, type StaleRead } from './read-your-writes';
