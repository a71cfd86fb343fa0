// Where the example client's files are, from src/ (tests) or dist/ (the build) alike.
import path from 'node:path';

/** clients/web. */
export const CLIENT_ROOT = path.join(__dirname, '..');
/** The page: its HTML, its script's entry point and its operations. */
export const PAGE_FOLDER = path.join(CLIENT_ROOT, 'src', 'page');
/** What the client preset writes: the operations' types and `graphql()`. */
export const GENERATED_FOLDER = path.join(PAGE_FOLDER, 'generated');
/** The operations the gateway will run for this client (PERSISTED_DOCUMENTS_FILE). */
export const MANIFEST_FILE = path.join(CLIENT_ROOT, 'persisted-query-manifest.json');
/** Which files hold operations, for the manifest's generator (its own CLI reads the same file). */
export const MANIFEST_CONFIG_FILE = path.join(CLIENT_ROOT, 'persisted-query-manifest.config.json');
