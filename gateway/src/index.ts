// What the gateway package offers: its server and settings, the operation cost model, and supergraph composition and checks.
export { createGatewayServer, type GatewayServerOptions } from './server';
export { loadGatewayConfig, gatewaySettings, OPERATION_LIMIT_SETTINGS, type GatewayConfig, type OperationLimits } from './config';
export { operationCost, costModelOf, type CostModel } from './limits';
export { compose, checkSchema, breakingChanges, readSupergraphConfig, type SupergraphConfig } from './composition';
export { SCHEMA_CHECK_SETTINGS } from './schema-base';
export { readManifest, PersistedOperationList, type PersistedOperation } from './persisted';
