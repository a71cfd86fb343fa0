import { serve } from '@fedstack/service-kit';
import { loadGatewayConfig } from './config';
import { createGatewayServer } from './server';

serve(async () => {
  const server = await createGatewayServer({ config: loadGatewayConfig() });
  await server.listen();
  return server;
});
