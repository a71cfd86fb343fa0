// admin's request context: what its resolvers are given besides their arguments.
import type { ServiceClient } from '@fedstack/shared-db';
import { loaderPerArguments, requireAdmin, type RequestContext, type Viewer } from '@fedstack/service-kit';
import { createAuditTrailLoader } from './domain/audit';
import type { createErasures } from './domain/erasure';
import type { AccountActions } from './domain/users';

/** adminStats as admin answers it: the key by which auth and payments contribute the figures. */
export interface AdminStatsReference {
  scope: string;
}

/** What lives for the whole process: account actions (asked of auth) and the erasure saga. */
export interface AdminServices {
  accounts: AccountActions;
  erasures: ReturnType<typeof createErasures>;
}

export interface AdminContext extends RequestContext {
  db: ServiceClient<'admin'>;
  services: AdminServices;
  /**
   * The acting admin. The account policy has already checked the token against what admin last heard
   * from auth, so a demoted or suspended admin's token no longer passes.
   */
  admin(): Viewer;
  loaders: { auditTrail(args: { first?: number | null; after?: string | null }): ReturnType<typeof createAuditTrailLoader> };
}

/** One request's context: fresh loaders every time over the shared client. */
export function createAdminContext(request: RequestContext, db: ServiceClient<'admin'>, services: AdminServices): AdminContext {
  return {
    ...request,
    db,
    services,
    admin: () => requireAdmin(request.auth),
    loaders: {
      auditTrail: loaderPerArguments((args: { first?: number | null; after?: string | null }) => createAuditTrailLoader(request.reads.read, args)),
    },
  };
}
