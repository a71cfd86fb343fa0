// The admin subgraph's resolvers: the audit log, account actions and erasure, each for admins only.
import { scalarsFor } from '@fedstack/service-kit';
import type { AdminContext } from './context';
import { auditTrailConnection, listAuditEntries, type AuditEntryView } from './domain/audit';
import type { Resolvers } from './generated/resolvers-types';

type Resolver<P, A, R> = (parent: P, args: A, ctx: AdminContext, info: never) => Promise<R>;

/** Every field of this subgraph requires an admin; the check lives here and nowhere else. */
function adminOnly<T extends Record<string, Resolver<never, never, unknown>>>(fields: T): T {
  return Object.fromEntries(
    Object.entries(fields).map(([name, resolve]) => [
      name,
      async (parent: never, args: never, ctx: AdminContext, info: never) => {
        ctx.admin();
        return resolve(parent, args, ctx, info);
      },
    ]),
  ) as T;
}

function actor(ctx: AdminContext) {
  return { userId: ctx.admin().userId, requestId: ctx.requestId };
}

export const resolvers: Resolvers = {
  ...scalarsFor('DateTime', 'JSON'),

  Query: adminOnly({
    auditLog: async (_parent, args, ctx) => listAuditEntries(ctx.db, args),
    // The figures come from the services that own them (auth, payments), through federation.
    adminStats: async () => ({ scope: 'all' }),
  } satisfies Resolvers['Query']),

  Mutation: adminOnly({
    suspendUser: async (_parent, { userId, reason }, ctx) => ctx.services.accounts.suspendUser(actor(ctx), userId, reason),
    reinstateUser: async (_parent, { userId }, ctx) => ctx.services.accounts.reinstateUser(actor(ctx), userId),
    setUserRole: async (_parent, { userId, role }, ctx) => ctx.services.accounts.setUserRole(actor(ctx), userId, role),
    eraseUser: async (_parent, { userId }, ctx) => ctx.services.erasures.erase(actor(ctx), userId),
  } satisfies Resolvers['Mutation']),

  User: {
    __resolveReference: (reference) => ({ id: reference.id }),
    ...adminOnly({
      auditTrail: async (user, args, ctx) => auditTrailConnection(await ctx.loaders.auditTrail(args).load(user.id), args),
    } satisfies Resolvers['User']),
  },

  AuditEntry: {
    actor: (entry: AuditEntryView) => (entry.actorId ? { id: entry.actorId } : null),
    payload: (entry: AuditEntryView) => entry.payload ?? {},
  },
};
