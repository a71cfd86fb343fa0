export { ErrorCode, AppError, badUserInput, unauthenticated, forbidden, notFound, conflict, rateLimited, isClientSafe, formatErrorFor } from './errors';
export {
  DEFAULT_PORTS,
  loadCommonConfig,
  loadServiceConfig,
  loadTokenVerificationConfig,
  httpUrl,
  type CommonConfig,
  type ServiceConfig,
  type TokenVerificationConfig,
  type LogLevel,
} from './config';
export { createLogger, type Logger } from './logger';
export { ServiceMetrics } from './metrics';
export { TOKEN_ALGORITHM, loadOrCreateDevelopmentKeyPair, parsePublicKey, resolveVerificationKey, type VerificationKey, type DevelopmentKeyPair } from './keys';
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
export { requestIdOf, requestIdMiddleware, httpErrorHandler, listen, operationalRoutes } from './http';
export { createSubgraphServer, serve, observabilityPlugin, landingPage, type RequestContext, type SubgraphDefinition, type SubgraphServer, type SubgraphServerOptions } from './server';
export { DecimalScalar, scalarResolvers, scalarsFor } from './scalars';
export { encodeCursor, decodeCursor, pageSize, toConnection, type Connection, type ListPosition, type PageInfo } from './pagination';
export { batchLoader, groupedBatchLoader, loaderPerArguments } from './loaders';
export { isUuid, type EntityReference } from './ids';
export { minorUnits, formatAmount } from './money';
