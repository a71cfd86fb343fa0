// The admin subgraph's resolvers: the audit log, account actions and erasure, each for admins only.
import { UnconfirmedEvent, entityReference, scalarsFor, type RowEvent } from '@fedstack/service-kit';
import type { AdminContext } from './context';
import { auditEntryOf, auditTrailConnection, listAuditEntries, type AuditEntryView } from './domain/audit';
import { auditEntries } from './domain/live';
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
  return { userId: ctx.admin().userId, requestId: ctx.requestId, written: ctx.reads.written };
}

export const resolvers: Resolvers = {
  ...scalarsFor('DateTime', 'JSON'),

  Query: adminOnly({
    auditLog: async (_parent, args, ctx) => listAuditEntries(ctx.reads.read, args),
    // The figures come from the services that own them (auth, payments), through federation.
    adminStats: async () => ({ scope: 'all' }),
  } satisfies Resolvers['Query']),

  Mutation: adminOnly({
    suspendUser: async (_parent, { userId, reason }, ctx) => ctx.services.accounts.suspendUser(actor(ctx), userId, reason),
    reinstateUser: async (_parent, { userId }, ctx) => ctx.services.accounts.reinstateUser(actor(ctx), userId),
    setUserRole: async (_parent, { userId, role }, ctx) => ctx.services.accounts.setUserRole(actor(ctx), userId, role),
    eraseUser: async (_parent, { userId }, ctx) => ctx.services.erasures.erase(actor(ctx), userId),
  } satisfies Resolvers['Mutation']),

  Subscription: {
    auditEntryAdded: {
      subscribe: async (_parent, _args, ctx) => {
        ctx.admin();
        return auditEntries();
      },
      // Each event with a fresh context: the entry as recorded.
      async resolve(event: RowEvent, _args: unknown, ctx: AdminContext) {
        const entry = await auditEntryOf(ctx.db, event);
        // A notification proves nothing (UnconfirmedEvent): one naming no entry is dropped.
        if (!entry) throw new UnconfirmedEvent(`audit entry ${event.id} was announced but is not there`);
        return entry;
      },
    },
  },

  User: {
    __resolveReference: (reference) => entityReference(reference),
    ...adminOnly({
      auditTrail: async (user, args, ctx) => auditTrailConnection(await ctx.loaders.auditTrail(args).load(user.id), args),
    } satisfies Resolvers['User']),
  },

  AuditEntry: {
    actor: (entry: AuditEntryView) => (entry.actorId ? { id: entry.actorId } : null),
    payload: (entry: AuditEntryView) => entry.payload ?? {},
  },
};
