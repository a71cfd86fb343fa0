import type { ServiceClient } from '@fedstack/shared-db';
import type { RequestContext } from '@fedstack/service-kit';
import {
  createPaymentLoader,
  createPaymentPageLoader,
  createRefundsLoader,
  createTotalsLoader,
  type PaymentPageArgs,
} from './domain/payments';
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
export function createPaymentsContext(
  request: RequestContext,
  db: ServiceClient<'payments'>,
  processor: PaymentProcessor,
): PaymentsContext {
  const pages = new Map<string, ReturnType<typeof createPaymentPageLoader>>();
  return {
    ...request,
    db,
    processor,
    loaders: {
      payment: createPaymentLoader(db),
      refunds: createRefundsLoader(db),
      totals: createTotalsLoader(db),
      paymentPage(args) {
        const key = JSON.stringify([args.first ?? null, args.after ?? null, args.status ?? null]);
        let loader = pages.get(key);
        if (!loader) {
          loader = createPaymentPageLoader(db, args);
          pages.set(key, loader);
        }
        return loader;
      },
    },
  };
}
