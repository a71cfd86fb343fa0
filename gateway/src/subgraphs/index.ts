// How the gateway calls its subgraphs: the data source Apollo Gateway uses, and the links behind it.
export { SubgraphDataSource, type SubgraphDataSourceOptions } from './data-source';
export { subgraphLinks, type LinkSettings } from './links';
export { queryDeduplication } from './dedupe';
export { subgraphFailureLog, type SubgraphFailureLog } from './failure-log';
export { assertionReadiness } from './assertion-check';
export { listedOperationPlugin, positionsPlugin, type GatewayContext } from './headers';
