// Subscriptions at a subgraph: what its resolvers answer, the process's LISTEN connection, and the WebSocket server the gateway subscribes through.
export { liveEvents, LiveFeed, UnconfirmedEvent, type LiveSpec, type RowEvent } from './feed';
export { singleFlight } from './single-flight';
export { LiveHub } from './hub';
export { serveSubgraphSubscriptions } from './websocket';
