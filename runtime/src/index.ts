export { REPOSITORY_ROOT } from './paths';
export { STACK, SERVICES, DEFAULT_PORTS, isService, defaultSubgraphUrl, type Service, type StackProcessName } from './stack';
export {
  StartupError,
  ConfigError,
  ErrorCode,
  AppError,
  badUserInput,
  unauthenticated,
  forbidden,
  notFound,
  conflict,
  rateLimited,
  isClientSafe,
  formatErrorFor,
} from './errors';
export {
  setting,
  readSettings,
  settingsTable,
  text,
  integer,
  port,
  flag,
  choice,
  httpUrl,
  asHttpUrl,
  settingFile,
  secretSetting,
  type Setting,
  type SettingsOf,
  type SettingRow,
} from './settings';
export {
  serverSettings,
  loadServerConfig,
  portSetting,
  logLevelSetting,
  subgraphUrls,
  HOST_SETTING,
  LOG_LEVELS,
  SUBGRAPH_URL_SETTINGS,
  type ServerConfig,
  type LogLevel,
} from './config';
export { createLogger, type Logger, type LogDestination } from './logger';
export { ServiceMetrics } from './metrics';
export { requestIdOf, requestIdMiddleware, httpErrorHandler, listen, operationalRoutes } from './http';
export { createGraphQLServer, landingPage, observabilityPlugin, type GraphQLServer, type GraphQLServerDefinition } from './server';
export { runMain, serve } from './main';
export { freePort, portIsFree } from './net';
