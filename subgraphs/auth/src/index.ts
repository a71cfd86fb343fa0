export { createAuthServer, typeDefs, type AuthServerOptions } from './server';
export { loadAuthConfig, type AuthConfig, type LoginThrottlePolicy } from './config';
