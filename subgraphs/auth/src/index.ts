// What the auth subgraph offers: its server, schema and settings.
export { createAuthServer, typeDefs, type AuthServerOptions } from './server';
export { loadAuthConfig, authSettings, type AuthConfig, type ThrottlePolicy } from './config';
