import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'graphql';
import { createSubgraphServer, type SubgraphServer, type SubgraphServerOptions } from '@fedstack/service-kit';
import { createAdminContext } from './context';
import { resolvers } from './resolvers';

export const typeDefs = parse(readFileSync(path.join(__dirname, '..', 'schema.graphql'), 'utf8'));

/** Builds the admin subgraph (not yet listening). */
export function createAdminServer(options: SubgraphServerOptions): Promise<SubgraphServer<'admin'>> {
  return createSubgraphServer({ service: 'admin', typeDefs, resolvers, context: createAdminContext }, options);
}
