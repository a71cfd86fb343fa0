// What the admin subgraph offers: its server, schema and settings.
export { createAdminServer, typeDefs, type AdminServerOptions } from './server';
export { loadAdminConfig, adminSettings, type AdminConfig } from './config';
