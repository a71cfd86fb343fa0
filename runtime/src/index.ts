// What every process shares, with no database in it: the GraphQL server, settings, errors, logs, metrics, keys, the stack's names and ports.
export { REPOSITORY_ROOT } from './paths';
export { STACK, SERVICES, DEFAULT_PORTS, isService, defaultSubgraphUrl, type Service, type StackProcessName } from './stack';
export {
  StartupError,
  EXIT_UNAVAILABLE,
  ConfigError,
  ErrorCode,
  AppError,
  badUserInput,
  excerpt,
  unauthenticated,
  forbidden,
  notFound,
  conflict,
  rateLimited,
  formatErrorFor,
  type ErrorTranslator,
} from './errors';
export {
  setting,
  readSettings,
  readSetting,
  shownDefault,
  settingsTable,
  text,
  integer,
  port,
  flag,
  choice,
  httpUrl,
  secretSetting,
  type Setting,
  type SettingRow,
} from './settings';
export {
  serverSettings,
  loadServerConfig,
  portSetting,
  portVariable,
  isProduction,
  NODE_ENV_SETTING,
  logLevelSetting,
  subgraphUrls,
  HOST_SETTING,
  METRICS_PORT_SETTING,
  SUBGRAPH_URL_SETTINGS,
  type ServerConfig,
  type LogLevel,
} from './config';
export { createLogger, type Logger, type LogDestination } from './logger';
export { LOG_THROTTLE_MS, logThrottle } from './log-throttle';
export { OPERATION_LISTED_HEADER, ServiceMetrics } from './metrics';
export { createGraphQLServer, metricsOnly, type GraphQLServer, type MetricsSource } from './server';
export { bearerToken, listen, requestIdOf } from './http';
export { CallerGoneError, DEADLINE_HEADER, assertCallerWaiting, deadlineIn, forCallerUntil, refuseLate } from './deadline';
export { runMain, serve, orExit, commandLine, whenStarterGone } from './main';
export { freePort, portIsFree, serverUrl } from './net';
export {
  TOKEN_ALGORITHM,
  THROTTLE_SECRET_MIN_LENGTH,
  developmentSecret,
  loadOrCreateDevelopmentKeyPair,
  developmentPrivateKey,
  parsePrivateKey,
  generatePrivateKey,
  keysBeside,
  parsePublicJwks,
  parsePublicKey,
  type VerificationKey,
  type DevelopmentKeyPair,
  type PrivateKeyPair,
} from './keys';
export {
  ASSERTION_REFUSED,
  refusesAssertion,
  GATEWAY_ASSERTION_HEADER,
  GATEWAY_DEVELOPMENT_KEY_FILE,
  gatewayAssertions,
  gatewayAssertionVerifier,
  type AssertionCheck,
} from './gateway-assertion';
export { verifiedTokens, type VerifiedTokens } from './verified-tokens';
export { pollUntil, within } from './poll';
export {
  serveGraphQLOverWebSocket,
  SLOW_CONSUMER_CLOSE,
  clientAddressOf,
  compileTrustProxy,
  type GraphQLWebSocketServer,
  type TrustProxy,
  type WebSocketExtra,
  type WebSocketLimits,
} from './websocket';
export { validateSubscriptionDocument } from './subscription-validation';
export { beginSpan, currentTraceparent, inEventSpan, type OpenSpan } from './event-trace';
export { MANIFEST_FORMAT, persistedQueryManifest, sha256Hex } from './persisted-manifest';
export { WAL_POSITIONS_HEADER, WalPositions, WalPositionsError, parseLsn, requestPositions } from './wal-positions';
export { RESTART_POLICY, RestartBudget, type RestartPolicy } from './restart-budget';
