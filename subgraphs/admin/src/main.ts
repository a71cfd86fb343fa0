// Runs the admin subgraph (`node subgraphs/admin/dist/main.js`), once its database is reachable and migrated.
import { tracing } from './instrument';
import { serve } from '@fedstack/runtime';
import { adminSettings, loadAdminConfig } from './config';
import { createAdminServer } from './server';

serve(
  async () => {
    const server = await createAdminServer({ config: loadAdminConfig() });
    await server.checkDatabase();
    await server.listen();
    return server;
  },
  tracing,
  adminSettings(),
);
