// How the subscriptions rows commit their payments: as clients do, through the gateway's createPayment, or through payments' own code and SQL in the driver, past the gateway and the payments process.
import { createPayment, simulatedProcessor } from '@fedstack/payments';
import { createServiceClient, serviceConnection } from '@fedstack/shared-db';

/** A signed-in user of the benchmark. */
export interface BenchUser {
  userId: string;
  token: string;
}

/** Commits one payment for `user` (two changes: recorded, settled); its id, or undefined when the call failed. */
export type Pay = (user: BenchUser, key: string) => Promise<{ userId: string; id: string } | undefined>;

/**
 * `gateway`: each payment is a client's `createPayment` through the gateway to payments, as in production,
 * so the gateway, payments and the driver carry the writes' requests beside the events. `payments SQL`:
 * each payment is payments' own `createPayment` (the same transactions, triggers and settlement) run in
 * the driver on a pool of its own, so that what the stack's processes carry is the events' delivery alone
 * (PostgreSQL still does every write), as when the writes come through other machines.
 */
export type PaymentPath = 'gateway' | 'payments SQL';

export const PAYMENT_PATHS: readonly PaymentPath[] = ['gateway', 'payments SQL'];

const PAY = `mutation ($key: String!) { createPayment(input: { amount: "1.00", currency: "EUR", paymentMethodToken: "tok_visa" }, idempotencyKey: $key) { id } }`;

/** How to commit payments by `path`, and how to let go of what it holds. */
export function paymentDriver(path: PaymentPath, options: { gatewayUrl: string; databaseEnv: NodeJS.ProcessEnv }): { pay: Pay; close(): Promise<void> } {
  if (path === 'gateway') {
    return {
      pay: async (user, key) => {
        try {
          const response = await fetch(options.gatewayUrl, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${user.token}` },
            body: JSON.stringify({ query: PAY, variables: { key } }),
          });
          const body = (await response.json()) as { data?: { createPayment: { id: string } } };
          return body.data ? { userId: user.userId, id: body.data.createPayment.id } : undefined;
        } catch {
          // A call that could not connect or was cut off on a saturated machine is an error of the row, not its end.
          return undefined;
        }
      },
      close: async () => undefined,
    };
  }
  // As payments' own process would: its role, a pool of the default size, the simulated processor answering at once.
  const db = createServiceClient('payments', { url: serviceConnection('payments', options.databaseEnv).url, poolSize: 10, replicas: [] });
  const processor = simulatedProcessor();
  let told = false;
  return {
    pay: async (user, key) => {
      try {
        const payment = await createPayment(db, processor, user.userId, { amount: '1.00', currency: 'EUR', paymentMethodToken: 'tok_visa' }, key);
        return { userId: user.userId, id: payment.id };
      } catch (error) {
        // Counted as the row's errors; the first is told, so that a driver that cannot pay at all says why.
        if (!told) console.warn(`  a payment committed through payments SQL failed: ${(error as Error).message}`);
        told = true;
        return undefined;
      }
    },
    close: () => db.$disconnect(),
  };
}
