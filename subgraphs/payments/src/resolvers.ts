// The payments subgraph's resolvers: its queries, mutations and entity fields, over the domain code.
import type { PaymentRecord } from '@fedstack/shared-db';
import {
  entityReference,
  formatAmount,
  optionalViewer,
  requireAdmin,
  requireSelfOrAdmin,
  requireViewer,
  scalarsFor,
  type RowEvent,
  type Viewer,
} from '@fedstack/service-kit';
import type { PaymentsContext } from './context';
import { createPayment } from './domain/create';
import { currentPayment, ownPaymentUpdates, paymentUpdates } from './domain/live';
import { paymentConnection } from './domain/loaders';
import { refundPayment } from './domain/refunds';
import { paymentVolume } from './domain/stats';
import type { Resolvers } from './generated/resolvers-types';

/** Payments are visible to their owner and to admins; to anyone else they do not exist. */
function visible(payment: PaymentRecord | null, viewer: Viewer | null): PaymentRecord | null {
  if (!payment || !viewer) return null;
  return viewer.role === 'ADMIN' || viewer.userId === payment.userId ? payment : null;
}

export const resolvers: Resolvers = {
  ...scalarsFor('DateTime', 'Decimal', 'Currency'),

  Query: {
    async payment(_parent, { id }, ctx) {
      const viewer = requireViewer(ctx.auth);
      return visible(await ctx.loaders.payment.load(id), viewer);
    },
  },

  Mutation: {
    async createPayment(_parent, { input, idempotencyKey }, ctx) {
      const viewer = requireViewer(ctx.auth);
      const payment = await createPayment(ctx.db, ctx.processor, viewer.userId, input, idempotencyKey);
      ctx.logger.info({ paymentId: payment.id, status: payment.status }, 'payment created');
      return payment;
    },
    async refundPayment(_parent, { input, idempotencyKey }, ctx) {
      const viewer = requireAdmin(ctx.auth);
      return refundPayment(ctx.db, { userId: viewer.userId, requestId: ctx.requestId }, input, idempotencyKey);
    },
  },

  Subscription: {
    paymentUpdated: {
      async subscribe(_parent, { id }, ctx) {
        const viewer = requireViewer(ctx.auth);
        return id ? paymentUpdates(viewer, id, await ctx.loaders.payment.load(id)) : ownPaymentUpdates(viewer);
      },
      // Each event with a fresh context: the payment as it is now, which must be the subscriber's when they follow all of theirs.
      resolve: (event: RowEvent, { id }: { id?: string | null }, ctx: PaymentsContext) =>
        currentPayment(ctx.db, event, id ? undefined : requireViewer(ctx.auth)),
    },
  },

  User: {
    __resolveReference: (reference) => entityReference(reference),
    async payments(user, args, ctx) {
      requireSelfOrAdmin(ctx.auth, user.id, "a user's payments");
      return paymentConnection(await ctx.loaders.paymentPage(args).load(user.id), args);
    },
    async paymentTotals(user, _args, ctx) {
      requireSelfOrAdmin(ctx.auth, user.id, "a user's payments");
      return (await ctx.loaders.totals.load(user.id)).map(({ currency, amount }) => ({ currency, amount: formatAmount(amount, currency) }));
    },
  },

  Payment: {
    async __resolveReference(reference, ctx) {
      return visible(await ctx.loaders.payment.load(reference.id), optionalViewer(ctx.auth));
    },
    user: (payment) => ({ id: payment.userId }),
    amount: (payment) => formatAmount(payment.amount, payment.currency),
    refundedAmount: (payment) => formatAmount(payment.refundedAmount, payment.currency),
    async refunds(payment, _args, ctx) {
      return (await ctx.loaders.refunds.load(payment.id)).map((refund) => ({ ...refund, currency: payment.currency }));
    },
  },

  AdminStats: {
    async __resolveReference(reference, ctx) {
      requireAdmin(ctx.auth);
      return { scope: reference.scope, paymentVolume: await paymentVolume(ctx.reads.read) };
    },
  },

  Refund: {
    amount: (refund) => formatAmount(refund.amount, refund.currency),
  },
};
