#!/usr/bin/env node
// @ts-check
// Runs Prisma's CLI on one service's schema and migrations, offline: `prisma-offline.js --service <name>
// <prisma arguments>`, or `--all` for each service in turn. Every project script that calls Prisma goes
// through here; the environment it gives the CLI is one of the workarounds in src/prisma-workarounds.js.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { CLI_SERVICES, offlineCliEnvironment } = require('../src/prisma-workarounds');

const USAGE = `usage: prisma-offline.js --service <${CLI_SERVICES.join('|')}> | --all <prisma arguments>`;

const [selector, value = '', ...rest] = process.argv.slice(2);
/** @type {string[]} */
let services;
/** @type {string[]} */
let args;
if (selector === '--all') {
  services = CLI_SERVICES;
  args = [value, ...rest].filter(Boolean);
} else if (selector === '--service' && CLI_SERVICES.includes(value)) {
  services = [value];
  args = rest;
} else {
  console.error(USAGE);
  process.exit(2);
}

const cli = path.join(path.dirname(require.resolve('prisma/package.json')), 'build', 'index.js');
for (const service of services) {
  const result = spawnSync(process.execPath, [cli, ...args], {
    cwd: path.resolve(__dirname, '..'),
    env: { ...process.env, ...offlineCliEnvironment(service) },
    stdio: 'inherit',
  });
  if (result.error) throw result.error;
  if (result.status !== 0) process.exit(result.status ?? 1);
}
