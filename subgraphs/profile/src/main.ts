// Runs the profile subgraph (`node subgraphs/profile/dist/main.js`), once its database is reachable and migrated.
import { tracing } from './instrument';
import { serve } from '@fedstack/runtime';
import { loadServiceConfig } from '@fedstack/service-kit';
import { profileSettings } from './config';
import { createProfileServer } from './server';

serve(
  async () => {
    const server = await createProfileServer({ config: loadServiceConfig('profile') });
    await server.checkDatabase();
    await server.listen();
    return server;
  },
  tracing,
  profileSettings(),
);
