// Persisted documents at the gateway: manifests, the policy for each request, and its place in front of Apollo Server.
export { ManifestError, PersistedOperationList, readManifest, type PersistedOperation } from './manifest';
export { PERSISTED_MODES, PersistedDocuments, type PersistedMode, type PersistedSettings, type ResolvedDocument } from './documents';
export { persistedDocumentsMiddleware } from './middleware';
export { apqCache } from './apq-cache';
