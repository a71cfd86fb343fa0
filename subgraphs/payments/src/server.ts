// The payments subgraph's server: its schema, resolvers, erase command and recovery worker on service-kit's subgraph server.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'graphql';
import { createSubgraphServer, ERASE_COMMAND, erasureCommand, type SubgraphServer, type SubgraphServerOptions } from '@fedstack/service-kit';
import { createPaymentsContext } from './context';
import type { PaymentsConfig } from './config';
import { DESCRIPTION_MAX } from './domain/create';
import { anonymisePaymentsAhead, erasePayments } from './domain/erasure';
import { MAX_KEY_LENGTH } from './domain/idempotency';
import { PAYMENT_CHANGED } from './domain/live';
import { pendingPaymentRecovery } from './domain/recovery';
import { simulatedProcessor, type PaymentProcessor } from './domain/processor';
import { resolvers } from './resolvers';

export const typeDefs = parse(readFileSync(path.join(__dirname, '..', 'schema.graphql'), 'utf8'));

export interface PaymentsServerOptions extends SubgraphServerOptions {
  config: PaymentsConfig;
  /** Where charges go; the deterministic simulated processor unless given. */
  processor?: PaymentProcessor;
}

/** Builds the payments subgraph (not yet listening). */
export function createPaymentsServer(options: PaymentsServerOptions): Promise<SubgraphServer<'payments'>> {
  const { config } = options;
  const processor = options.processor ?? simulatedProcessor(config.processorDelayMs);
  return createSubgraphServer(
    {
      service: 'payments',
      typeDefs,
      resolvers,
      // The schema's own limits, so that text over them is refused naming them rather than the default's.
      textLimits: {
        'Mutation.createPayment': { 'input.description': DESCRIPTION_MAX, idempotencyKey: MAX_KEY_LENGTH },
        'Mutation.refundPayment': { 'input.reason': DESCRIPTION_MAX, idempotencyKey: MAX_KEY_LENGTH },
      },
      context: (request, deps) => createPaymentsContext(request, deps, processor),
      internal: ({ db }) => ({ commands: { [ERASE_COMMAND]: erasureCommand('payments', db, erasePayments, anonymisePaymentsAhead) } }),
      // Refunds' audit entries go to admin through the outbox.
      publishes: true,
      subscriptions: { channels: [PAYMENT_CHANGED], limits: config.subscriptions },
      workers: ({ db, logger, metrics }) => [
        pendingPaymentRecovery(db, processor, config.recovery, { logger: logger.child({ component: 'recovery' }), metrics }),
      ],
    },
    options,
  );
}
