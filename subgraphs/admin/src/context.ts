import type { ServiceClient } from '@fedstack/shared-db';
import { forbidden, loaderPerArguments, requireAdmin, type RequestContext, type Viewer } from '@fedstack/service-kit';
import { createAuditTrailLoader } from './domain/audit';

export interface AdminContext extends RequestContext {
  db: ServiceClient<'admin'>;
  /**
   * The acting admin, checked once per request: the token must carry the ADMIN role and the database
   * must agree that this user is still an active admin (a demoted admin's token lives up to 15 min).
   */
  admin(): Promise<Viewer>;
  loaders: { auditTrail(args: { first?: number | null; after?: string | null }): ReturnType<typeof createAuditTrailLoader> };
}

/** One request's context: fresh loaders every time over the shared client. */
export function createAdminContext(request: RequestContext, db: ServiceClient<'admin'>): AdminContext {
  let admin: Promise<Viewer> | undefined;
  return {
    ...request,
    db,
    admin() {
      admin ??= (async () => {
        const viewer = requireAdmin(request.auth);
        const current = await db.$queryRaw<{ ok: boolean }[]>`
          SELECT (role = 'ADMIN' AND status = 'ACTIVE' AND erased_at IS NULL) AS ok FROM auth.users WHERE id = ${viewer.userId}::uuid`;
        if (!current[0]?.ok) throw forbidden('This account is no longer an active admin');
        return viewer;
      })();
      return admin;
    },
    loaders: {
      auditTrail: loaderPerArguments((args: { first?: number | null; after?: string | null }) => createAuditTrailLoader(db, args)),
    },
  };
}
