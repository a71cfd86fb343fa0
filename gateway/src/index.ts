// What the gateway package offers: its server and settings, the operation cost model, and supergraph composition and checks.
export { createGatewayServer, type GatewayServerOptions } from './server';
export { loadGatewayConfig, gatewaySettings, type GatewayConfig, type OperationLimits } from './config';
export { operationCost, costModelOf, type CostModel } from './limits';
export { compose, checkSchema, breakingChanges, readSupergraphConfig, SCHEMA_CHECK_SETTINGS, type SupergraphConfig } from './composition';
export { readManifest, PersistedOperationList, type PersistedOperation } from './persisted';
