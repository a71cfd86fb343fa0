// What the profile subgraph offers: its server and schema.
export { createProfileServer, typeDefs } from './server';
