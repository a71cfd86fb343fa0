import { tracing } from './instrument';
import { serve } from '@fedstack/runtime';
import { loadServiceConfig } from '@fedstack/service-kit';
import { createAdminServer } from './server';

serve(async () => {
  const server = await createAdminServer({ config: loadServiceConfig('admin') });
  await server.checkDatabase();
  await server.listen();
  return server;
}, tracing);
