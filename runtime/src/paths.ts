// The repository's root (where `.data/`, `supergraph.graphql` and the workspaces are).
import path from 'node:path';

export const REPOSITORY_ROOT = path.resolve(__dirname, '..', '..');
