// What the payments subgraph offers: its server, schema, settings and payment processors.
export { createPaymentsServer, typeDefs, type PaymentsServerOptions } from './server';
export { loadPaymentsConfig, paymentsSettings, type PaymentsConfig } from './config';
export { createPayment, type CreatePaymentRequest } from './domain/create';
export { simulatedProcessor, DECLINING_TOKENS, type PaymentProcessor, type ChargeRequest, type ChargeResult } from './domain/processor';
