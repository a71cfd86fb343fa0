// The auth subgraph's resolvers: registration, sign-in, sessions and passwords, users, and its part of adminStats.
import { badUserInput, conflict, excerpt, forbidden, unauthenticated } from '@fedstack/runtime';
import {
  hashPassword,
  passwordNeedsRehash,
  PrismaClientKnownRequestError,
  type ServiceTransaction,
  type UserRecord,
  verifyPassword,
} from '@fedstack/shared-db';
import { isUuid, optionalViewer, requireAdmin, requireSelfOrAdmin, requireViewer, scalarsFor } from '@fedstack/service-kit';
import type { AuthContext } from './context';
import { assertAcceptablePassword, assertRegistrableEmail, normaliseEmail } from './domain/credentials';
import { endSessions } from './domain/ended-sessions';
import { revokeFamilyOf, rotateRefreshToken, startSession, type IssuedRefreshToken } from './domain/sessions';
import { userStats } from './domain/stats';
import { listUsers } from './domain/users';
import type { Resolvers, ResolversTypes } from './generated/resolvers-types';

const INVALID_CREDENTIALS = 'Invalid email or password';

/**
 * Whether `password`, verified against `verifiedHash` before a transaction (that takes tens of
 * milliseconds), is still the user's, read in the transaction once it holds the user's row: a password
 * change or an erasure that committed meanwhile wins. A hash changed by a rehash at another sign-in is
 * verified again (rarely: only when the hash changed).
 */
async function isStillThePassword(tx: ServiceTransaction<'auth'>, userId: string, verifiedHash: string, password: string): Promise<boolean> {
  const credential = await tx.passwordCredential.findUnique({ where: { userId }, select: { passwordHash: true } });
  if (!credential) return false;
  return credential.passwordHash === verifiedHash || verifyPassword(credential.passwordHash, password);
}

function clientOf(ctx: AuthContext) {
  return { userAgent: ctx.userAgent, ipAddress: ctx.clientAddress };
}

async function payload(ctx: AuthContext, user: UserRecord, refresh: IssuedRefreshToken): Promise<ResolversTypes['AuthPayload']> {
  const access = await ctx.services.issueAccessToken({ userId: user.id, role: user.role, sessionId: refresh.familyId });
  // The payload hands out this user's credentials, so the answer may show this user's details.
  ctx.signedInUserId = user.id;
  return {
    accessToken: access.token,
    accessTokenExpiresAt: access.expiresAt,
    refreshToken: refresh.token,
    refreshTokenExpiresAt: refresh.expiresAt,
    user,
  };
}

/**
 * A user's own account details are visible to that user and to admins, and to nobody else. The account
 * policy has already given the token its account's current role (a demoted admin is a user here).
 */
function assertMayRead(ctx: AuthContext, userId: string): void {
  if (ctx.signedInUserId === userId) return;
  requireSelfOrAdmin(ctx.auth, userId, "a user's account details");
}

function guarded<K extends keyof UserRecord>(field: K) {
  return (user: UserRecord, _args: unknown, ctx: AuthContext): UserRecord[K] => {
    assertMayRead(ctx, user.id);
    return user[field];
  };
}

/**
 * A user by id. The viewer as the account check read them when the request began, on the primary (a
 * statement fewer for most requests that reach auth); anyone else by the request's loader (a replica
 * when one has the client's writes, the primary for those it lacks).
 */
async function userById(ctx: AuthContext, id: string): Promise<UserRecord | null> {
  const isViewer = id.toLowerCase() === ctx.auth.viewer?.userId.toLowerCase();
  return (isViewer ? ctx.viewerRow : undefined) ?? ctx.loaders.user.load(id);
}

export const resolvers: Resolvers = {
  ...scalarsFor('DateTime', 'EmailAddress'),

  Query: {
    async me(_parent, _args, ctx) {
      const viewer = optionalViewer(ctx.auth);
      return viewer ? userById(ctx, viewer.userId) : null;
    },
    async user(_parent, { id }, ctx) {
      if (!isUuid(id)) throw badUserInput('id', `must be a UUID (got "${excerpt(id, 64)}")`);
      assertMayRead(ctx, id.toLowerCase());
      return ctx.loaders.user.load(id.toLowerCase());
    },
    async users(_parent, args, ctx) {
      requireAdmin(ctx.auth);
      return listUsers(ctx.reads.read, args);
    },
  },

  Mutation: {
    async register(_parent, { input }, ctx) {
      await ctx.throttle.takeRegistration(ctx.clientAddress);
      const email = normaliseEmail(input.email);
      try {
        assertRegistrableEmail(email, 'input.email');
        assertAcceptablePassword(input.password, email, 'input.password');
      } catch (refusal) {
        // A refused weak password does not use up an address's registrations (everyone's, behind one NAT).
        await ctx.throttle.giveBackRegistration(ctx.clientAddress);
        throw refusal;
      }
      const passwordHash = await hashPassword(input.password);
      try {
        const { user, refresh } = await ctx.db.$transaction(async (tx) => {
          const created = await tx.user.create({ data: { email, credential: { create: { passwordHash } } } });
          return { user: created, refresh: await startSession(tx, created.id, ctx.services.refreshTokenTtlSeconds, clientOf(ctx)) };
        });
        ctx.logger.info({ userId: user.id }, 'user registered');
        return payload(ctx, user, refresh);
      } catch (error) {
        if (error instanceof PrismaClientKnownRequestError && error.code === 'P2002') {
          // As generic as a synchronous sign-up allows: it does not say that an account exists. (The owner
          // would hear of it by e-mail, were there mail; registrations per address are throttled.)
          throw conflict('These details cannot be used to register: sign in, or use another e-mail address', { field: 'input.email' });
        }
        throw error;
      }
    },

    async login(_parent, { input }, ctx) {
      const email = normaliseEmail(input.email);
      const attempt = await ctx.throttle.takeSignInAttempt(email, ctx.clientAddress);
      const user = await ctx.db.user.findUnique({ where: { email }, include: { credential: true } });
      const storedHash = user?.credential?.passwordHash;
      // Unknown emails verify against a dummy hash: same work, same answer, same time.
      const valid = await verifyPassword(storedHash ?? ctx.services.dummyPasswordHash, input.password);
      if (!user || !storedHash || !valid) throw unauthenticated(INVALID_CREDENTIALS);
      if (user.status !== 'ACTIVE') throw forbidden('This account is suspended');
      const rehash = passwordNeedsRehash(storedHash) ? await hashPassword(input.password) : null;
      const { signedIn, refresh } = await ctx.db.$transaction(async (tx) => {
        // The user's row before the credential, in the order erasure locks them (accounts.ts): the other
        // order deadlocks with an erasure of the same user.
        const signedIn = await tx.user.update({ where: { id: user.id }, data: { lastLoginAt: new Date() } });
        if (!(await isStillThePassword(tx, user.id, storedHash, input.password))) throw unauthenticated(INVALID_CREDENTIALS);
        if (signedIn.status !== 'ACTIVE') throw forbidden('This account is suspended');
        // Only over the hash it replaces: another sign-in may have stored its rehash meanwhile.
        if (rehash) await tx.passwordCredential.updateMany({ where: { userId: user.id, passwordHash: storedHash }, data: { passwordHash: rehash } });
        return { signedIn, refresh: await startSession(tx, user.id, ctx.services.refreshTokenTtlSeconds, clientOf(ctx)) };
      });
      await ctx.throttle.settleSuccess(attempt);
      return payload(ctx, signedIn, refresh);
    },

    async refreshSession(_parent, { refreshToken }, ctx) {
      const { refresh, user } = await rotateRefreshToken(ctx.db, refreshToken, ctx.services.refreshTokenTtlSeconds, clientOf(ctx));
      return payload(ctx, user, refresh);
    },

    async logout(_parent, { refreshToken }, ctx) {
      return revokeFamilyOf(ctx.db, refreshToken);
    },

    async logoutEverywhere(_parent, _args, ctx) {
      const viewer = requireViewer(ctx.auth);
      await ctx.db.$transaction((tx) => endSessions(tx, viewer.userId, 'logout_everywhere'));
      return true;
    },

    async changePassword(_parent, { input }, ctx) {
      const viewer = requireViewer(ctx.auth);
      const user = await ctx.db.user.findUnique({ where: { id: viewer.userId }, include: { credential: true } });
      if (!user?.credential) throw unauthenticated('This account has no password to change');
      const attempt = await ctx.throttle.takeSignInAttempt(user.email, ctx.clientAddress);
      if (!(await verifyPassword(user.credential.passwordHash, input.currentPassword))) {
        throw badUserInput('input.currentPassword', 'is not the current password');
      }
      await ctx.throttle.settleSuccess(attempt);
      assertAcceptablePassword(input.newPassword, user.email, 'input.newPassword');
      if (input.newPassword === input.currentPassword) throw badUserInput('input.newPassword', 'must differ from the current password');
      const passwordHash = await hashPassword(input.newPassword);
      const verifiedHash = user.credential.passwordHash;
      await ctx.db.$transaction(async (tx) => {
        // endSessions locks the user's row first; the credential after it, in the order erasure locks them.
        await endSessions(tx, user.id, 'password_changed', { exceptFamilyId: viewer.sessionId });
        if (!(await isStillThePassword(tx, user.id, verifiedHash, input.currentPassword))) {
          throw badUserInput('input.currentPassword', 'is not the current password');
        }
        await tx.passwordCredential.update({ where: { userId: user.id }, data: { passwordHash } });
      });
      return true;
    },
  },

  User: {
    async __resolveReference(reference, ctx) {
      if (!isUuid(reference.id)) return null;
      // Before the lookup, as `user(id)` does: someone who may not read the user is not told whether the id
      // is an account (an entity for one, null for none, to a client calling auth directly).
      assertMayRead(ctx, reference.id.toLowerCase());
      return userById(ctx, reference.id);
    },
    email: guarded('email'),
    role: guarded('role'),
    status: guarded('status'),
    createdAt: guarded('createdAt'),
    lastLoginAt: guarded('lastLoginAt'),
  },

  AdminStats: {
    async __resolveReference(reference, ctx) {
      requireAdmin(ctx.auth);
      return { scope: reference.scope, ...(await userStats(ctx.reads.read)) };
    },
  },
};
