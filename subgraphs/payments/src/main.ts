// Runs the payments subgraph (`node subgraphs/payments/dist/main.js`), once its database is reachable and migrated.
import { tracing } from './instrument';
import { serve } from '@fedstack/runtime';
import { loadPaymentsConfig, paymentsSettings } from './config';
import { createPaymentsServer } from './server';

serve(
  async () => {
    const server = await createPaymentsServer({ config: loadPaymentsConfig() });
    await server.checkDatabase();
    await server.listen();
    return server;
  },
  tracing,
  paymentsSettings(),
);
