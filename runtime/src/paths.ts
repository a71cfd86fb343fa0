import path from 'node:path';

/** The repository's root (where `.data/`, `supergraph.graphql` and the workspaces are). */
export const REPOSITORY_ROOT = path.resolve(__dirname, '..', '..');
