export { createGatewayServer, type GatewayServerOptions } from './server';
export { loadGatewayConfig, gatewaySettings, type GatewayConfig, type OperationLimits } from './config';
export { operationCost, costModelOf, type CostModel } from './limits';
export { compose, checkSchema, breakingChanges, readSupergraphConfig, SCHEMA_CHECK_SETTINGS, type SupergraphConfig } from './composition';
