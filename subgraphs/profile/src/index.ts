// What the profile subgraph offers: its server, schema and settings.
export { createProfileServer, typeDefs } from './server';
export { profileSettings } from './config';
