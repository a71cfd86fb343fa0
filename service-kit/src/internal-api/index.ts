// The internal API between services: its contract, its signatures, refusing replays, serving it and calling it.
export { INTERNAL_JWKS_PATH } from './protocol';
export { internalIdentity, internalCallVerifier, type InternalIdentity, type InternalCallVerifier, type RefusedCall, type VerifiedCall } from './signing';
export { replayGuard, EXPIRED_REMOVED_PER_CALL, type ReplayGuard } from './replay';
export { command, eventHandler, internalRoutes, type CommandHandler, type EventHandler, type InternalHandlers } from './routes';
export { createInternalClient, InternalCallError, type InternalClient } from './client';
