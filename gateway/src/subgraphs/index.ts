export { SubgraphDataSource, type SubgraphDataSourceOptions } from './data-source';
export { subgraphAgent } from './transport';
export type { GatewayContext } from './headers';
