// Persisted documents at the gateway: manifests, the policy for each request, and its place in front of Apollo Server.
export { MANIFEST_FORMAT, ManifestError, PersistedOperationList, readManifest, sha256Hex, type PersistedOperation } from './manifest';
export { PERSISTED_MODES, PersistedDocuments, type PersistedMode, type PersistedSettings, type ResolvedDocument } from './documents';
export { persistedDocumentsMiddleware } from './middleware';
