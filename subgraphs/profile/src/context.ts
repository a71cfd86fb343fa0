// profile's request context: what its resolvers are given besides their arguments.
import type { ProfileRecord, ServiceClient } from '@fedstack/shared-db';
import type { RequestContext, SubgraphDeps } from '@fedstack/service-kit';
import { createProfileLoader } from './domain/profiles';

export interface ProfileContext extends RequestContext<ProfileRecord> {
  db: ServiceClient<'profile'>;
  loaders: { profile: ReturnType<typeof createProfileLoader> };
}

/** One request's context: fresh loaders every time over the shared client, the viewer's profile in them when the account check read it. */
export function createProfileContext(request: RequestContext<ProfileRecord>, { db }: SubgraphDeps<'profile'>): ProfileContext {
  const { viewer } = request.auth;
  const viewerProfile = viewer && request.viewerRow !== undefined ? { userId: viewer.userId, profile: request.viewerRow } : undefined;
  return { ...request, db, loaders: { profile: createProfileLoader(request.reads.read, viewerProfile) } };
}
