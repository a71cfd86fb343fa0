// profile's request context: what its resolvers are given besides their arguments.
import type { ServiceClient } from '@fedstack/shared-db';
import type { RequestContext, SubgraphDeps } from '@fedstack/service-kit';
import { createProfileLoader } from './domain/profiles';

export interface ProfileContext extends RequestContext {
  db: ServiceClient<'profile'>;
  loaders: { profile: ReturnType<typeof createProfileLoader> };
}

/** One request's context: fresh loaders every time over the shared client. */
export function createProfileContext(request: RequestContext, { db }: SubgraphDeps<'profile'>): ProfileContext {
  return { ...request, db, loaders: { profile: createProfileLoader(request.reads.read) } };
}
