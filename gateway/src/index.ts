export { createGatewayServer, type GatewayServerOptions } from './server';
export { loadGatewayConfig, type GatewayConfig, type OperationLimits } from './config';
export { measureOperation } from './limits';
export { compose, checkSchema, breakingChanges, readSupergraphConfig, type SupergraphConfig } from './composition';
