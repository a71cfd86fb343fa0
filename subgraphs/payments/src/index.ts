export { createPaymentsServer, typeDefs, type PaymentsServerOptions } from './server';
export { simulatedProcessor, DECLINING_TOKENS, type PaymentProcessor, type ChargeRequest, type ChargeResult } from './domain/processor';
