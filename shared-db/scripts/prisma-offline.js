#!/usr/bin/env node
// Runs Prisma's CLI on one service's schema and migrations, on a machine that cannot download Prisma's
// native engines: `prisma-offline.js --service <name> <prisma arguments>`, or `--all` for each service in
// turn. prisma.config.ts selects the WebAssembly schema engine, so the engines are never loaded; the CLI
// only needs these variables to name existing files so that it does not try to download them at start.
// Every project script that calls Prisma goes through here (docs/adr/0001-prisma-offline.md).
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const SERVICES = ['auth', 'profile', 'payments', 'admin'];
const USAGE = 'usage: prisma-offline.js --service <auth|profile|payments|admin> | --all <prisma arguments>';

const [selector, value, ...rest] = process.argv.slice(2);
let services;
let args;
if (selector === '--all') {
  services = SERVICES;
  args = [value, ...rest].filter((arg) => arg !== undefined);
} else if (selector === '--service' && SERVICES.includes(value)) {
  services = [value];
  args = rest;
} else {
  console.error(USAGE);
  process.exit(2);
}

const placeholder = require.resolve('prisma/package.json');
const cli = path.join(path.dirname(placeholder), 'build', 'index.js');
for (const service of services) {
  const result = spawnSync(process.execPath, [cli, ...args], {
    cwd: path.resolve(__dirname, '..'),
    env: {
      ...process.env,
      PRISMA_SERVICE: service,
      PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY || placeholder,
      PRISMA_QUERY_ENGINE_LIBRARY: process.env.PRISMA_QUERY_ENGINE_LIBRARY || placeholder,
      CHECKPOINT_DISABLE: '1',
      PRISMA_HIDE_UPDATE_MESSAGE: '1',
    },
    stdio: 'inherit',
  });
  if (result.error) throw result.error;
  if (result.status !== 0) process.exit(result.status ?? 1);
}
