// The profile subgraph's server: its schema, resolvers and erase command on service-kit's subgraph server.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'graphql';
import { createSubgraphServer, ERASE_COMMAND, erasureCommand, type SubgraphServer, type SubgraphServerOptions } from '@fedstack/service-kit';
import { createProfileContext } from './context';
import { LIMITS, VIEWER_PROFILE, eraseProfile } from './domain/profiles';
import { resolvers } from './resolvers';

export const typeDefs = parse(readFileSync(path.join(__dirname, '..', 'schema.graphql'), 'utf8'));

/** Builds the profile subgraph (not yet listening). */
export function createProfileServer(options: SubgraphServerOptions): Promise<SubgraphServer<'profile'>> {
  return createSubgraphServer(
    {
      service: 'profile',
      typeDefs,
      resolvers,
      // The schema's own limit for a URL, past the 1000 characters any other text argument may hold.
      textLimits: { 'Mutation.updateMyProfile': { 'input.avatarUrl': LIMITS.avatarUrl } },
      context: createProfileContext,
      viewerRow: VIEWER_PROFILE,
      internal: ({ db }) => ({ commands: { [ERASE_COMMAND]: erasureCommand('profile', db, eraseProfile) } }),
    },
    options,
  );
}
