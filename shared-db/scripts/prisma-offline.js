#!/usr/bin/env node
// Runs Prisma's CLI with the arguments given, on a machine that cannot download Prisma's native engines.
// prisma.config.ts selects the WebAssembly schema engine, so the engines are never loaded; the CLI only
// needs these variables to name existing files so that it does not try to download them at start.
// Every project script that calls Prisma goes through here (docs/adr/0001-prisma-offline.md).
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const placeholder = require.resolve('prisma/package.json');
const cli = path.join(path.dirname(placeholder), 'build', 'index.js');
const env = {
  ...process.env,
  PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY || placeholder,
  PRISMA_QUERY_ENGINE_LIBRARY: process.env.PRISMA_QUERY_ENGINE_LIBRARY || placeholder,
  CHECKPOINT_DISABLE: '1',
  PRISMA_HIDE_UPDATE_MESSAGE: '1',
};

const result = spawnSync(process.execPath, [cli, ...process.argv.slice(2)], {
  cwd: path.resolve(__dirname, '..'),
  env,
  stdio: 'inherit',
});
if (result.error) throw result.error;
process.exit(result.status ?? 1);
