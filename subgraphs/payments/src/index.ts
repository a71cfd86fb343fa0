export { createPaymentsServer, typeDefs, type PaymentsServerOptions } from './server';
export { loadPaymentsConfig, paymentsSettings, type PaymentsConfig } from './config';
export { simulatedProcessor, DECLINING_TOKENS, type PaymentProcessor, type ChargeRequest, type ChargeResult } from './domain/processor';
