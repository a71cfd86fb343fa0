// What the example client offers the repository's tools and tests: its settings and its page's server (its generated files: `./codegen`).
export { CLIENT_SETTINGS, loadClientConfig, type ClientConfig } from './config';
export { startClientServer, type ClientServer } from './server';
export { MANIFEST_FILE } from './paths';
