export { createAuthServer, typeDefs, type AuthServerOptions } from './server';
export { loadAuthConfig, authSettings, type AuthConfig, type ThrottlePolicy } from './config';
