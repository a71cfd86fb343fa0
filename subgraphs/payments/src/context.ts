// payments' request context: what its resolvers are given besides their arguments.
import type { ServiceClient } from '@fedstack/shared-db';
import { loaderPerArguments, type RequestContext, type SubgraphDeps } from '@fedstack/service-kit';
import { createPaymentLoader, createPaymentPageLoader, createRefundsLoader, createTotalsLoader, type PaymentPageArgs } from './domain/loaders';
import type { PaymentProcessor } from './domain/processor';

export interface PaymentsContext extends RequestContext {
  db: ServiceClient<'payments'>;
  processor: PaymentProcessor;
  loaders: {
    payment: ReturnType<typeof createPaymentLoader>;
    refunds: ReturnType<typeof createRefundsLoader>;
    totals: ReturnType<typeof createTotalsLoader>;
    /** One page loader per distinct set of arguments, so that a list of users shares one query. */
    paymentPage(args: PaymentPageArgs): ReturnType<typeof createPaymentPageLoader>;
  };
}

/** One request's context: fresh loaders every time over the shared client. */
export function createPaymentsContext(request: RequestContext, { db }: SubgraphDeps<'payments'>, processor: PaymentProcessor): PaymentsContext {
  return {
    ...request,
    db,
    processor,
    loaders: {
      payment: createPaymentLoader(request.reads.read),
      refunds: createRefundsLoader(request.reads.read),
      totals: createTotalsLoader(request.reads.read),
      paymentPage: loaderPerArguments((args: PaymentPageArgs) => createPaymentPageLoader(request.reads.read, args)),
    },
  };
}
