export { createAdminServer, typeDefs, type AdminServerOptions } from './server';
export { loadAdminConfig, adminSettings, type AdminConfig } from './config';
