export { SubgraphDataSource, type SubgraphDataSourceOptions } from './data-source';
export { subgraphLinks, type LinkSettings } from './links';
export type { GatewayContext } from './headers';
