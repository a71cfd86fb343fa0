import { serve } from '@fedstack/service-kit';
import { loadAuthConfig } from './config';
import { createAuthServer } from './server';

serve(async () => {
  const server = await createAuthServer({ config: loadAuthConfig() });
  await server.checkDatabase();
  await server.listen();
  return server;
});
