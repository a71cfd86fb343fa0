// auth's request context: what its resolvers are given besides their arguments.
import type { PreparedStatement, ServiceClient, UserRecord } from '@fedstack/shared-db';
import type { RequestContext, SubgraphDeps, ViewerRole } from '@fedstack/service-kit';
import type { ThrottlePolicy } from './config';
import { SignInThrottle, type ThrottleKeys } from './domain/throttle';
import type { IssuedAccessToken } from './domain/signing';
import { createUserLoader } from './domain/users';

/** What lives for the whole process and every request shares. */
export interface AuthServices {
  issueAccessToken(subject: { userId: string; role: ViewerRole; sessionId: string }): Promise<IssuedAccessToken>;
  refreshTokenTtlSeconds: number;
  throttle: ThrottlePolicy;
  /** The keys of the throttle's counters (HMACs under THROTTLE_KEY_SECRET). */
  throttleKeys: ThrottleKeys;
  /** A hash no password matches, verified when the email is unknown so that both cases take as long. */
  dummyPasswordHash: string;
}

export interface AuthContext extends RequestContext<UserRecord> {
  db: ServiceClient<'auth'>;
  services: AuthServices;
  loaders: { user: ReturnType<typeof createUserLoader> };
  /** The process's sign-in and registration throttle (its counters are in the database). */
  throttle: SignInThrottle;
  /** Set when this request signed a user in (register, login, refresh): that user's details may be shown. */
  signedInUserId?: string;
}

/** One request's context: fresh loaders every time, the shared client and services. */
export function createAuthContext(request: RequestContext<UserRecord>, { db }: SubgraphDeps<'auth'>, services: AuthServices): AuthContext {
  const primary = db.hasReplicas ? <R>(statement: PreparedStatement, values: readonly unknown[]) => db.sql<R>(statement, values) : undefined;
  return { ...request, db, services, loaders: { user: createUserLoader(request.reads.read, primary) }, throttle: throttleOf(db, services) };
}

const throttles = new WeakMap<ServiceClient<'auth'>, SignInThrottle>();

/** One throttle per process (per client), made on the first request. */
function throttleOf(db: ServiceClient<'auth'>, services: AuthServices): SignInThrottle {
  let throttle = throttles.get(db);
  if (!throttle) {
    throttle = new SignInThrottle(db, services.throttle, services.throttleKeys);
    throttles.set(db, throttle);
  }
  return throttle;
}
