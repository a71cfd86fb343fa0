// Runs the auth subgraph (`node subgraphs/auth/dist/main.js`), once its database is reachable and migrated.
import { tracing } from './instrument';
import { authSettings, loadAuthConfig } from './config';
import { createAuthServer } from './server';
import { serve } from '@fedstack/runtime';

serve(
  async () => {
    const server = await createAuthServer({ config: loadAuthConfig() });
    await server.checkDatabase();
    await server.listen();
    return server;
  },
  tracing,
  authSettings(),
);
