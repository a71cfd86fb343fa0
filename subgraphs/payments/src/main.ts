import { serve } from '@fedstack/runtime';
import { loadServiceConfig } from '@fedstack/service-kit';
import { createPaymentsServer } from './server';

serve(async () => {
  const server = await createPaymentsServer({ config: loadServiceConfig('payments') });
  await server.checkDatabase();
  await server.listen();
  return server;
});
