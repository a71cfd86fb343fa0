// Prisma's CLI, run by scripts/prisma-offline.js on one service's schema and migration history, on its
// WebAssembly schema engine through the pg driver adapter: the native engines cannot be downloaded on
// machines without internet (docs/adr/0001-prisma-offline.md). What that takes is in
// src/prisma-workarounds.js.
import path from 'node:path';
import { defineConfig } from 'prisma/config';
import { CLI_SERVICES, MigrationAdapterFactory, migrationConnection, releaseEngineTimers } from './src/prisma-workarounds';

// The launcher sets it; this file is loaded by the CLI only, never by the services.
const service = process.env.PRISMA_SERVICE ?? '';
if (!CLI_SERVICES.includes(service)) {
  throw new Error(`PRISMA_SERVICE must name the service to work on: ${CLI_SERVICES.join(', ')} (got "${service}")`);
}

releaseEngineTimers();

export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: path.join('prisma', service, 'schema.prisma'),
  migrations: { path: path.join('prisma', service, 'migrations') },
  async adapter() {
    const url = process.env.DATABASE_URL;
    if (!url) throw new Error(`DATABASE_URL must name the owner's connection to the ${service} database for Prisma's CLI`);
    return new MigrationAdapterFactory(migrationConnection(url, service));
  },
});
