// The internal API between services: its contract, its signatures, serving it and calling it.
export { INTERNAL_JWKS_PATH } from './protocol';
export { internalIdentity, internalCallVerifier, type InternalIdentity, type InternalCallVerifier } from './signing';
export { command, eventHandler, internalRoutes, type CommandHandler, type EventHandler, type InternalHandlers } from './routes';
export { createInternalClient, InternalCallError, type InternalClient } from './client';
