#!/usr/bin/env node
// @ts-check
// Runs Prisma's CLI on one service's schema and migrations, offline: `prisma-offline.js --service <name>
// <prisma arguments>`, or `--all` for each service in turn. Every project script that calls Prisma goes
// through here; the environment it gives the CLI is one of the workarounds in src/prisma-workarounds.js.
'use strict';
const { spawnSync } = require('node:child_process');
const { parseArgs } = require('node:util');
const os = require('node:os');
const path = require('node:path');
const { CLI_SERVICES, cliArguments, offlineCliEnvironment } = require('../src/prisma-workarounds');

const USAGE = `usage: prisma-offline.js --service <${CLI_SERVICES.join('|')}> | --all <prisma arguments>`;

/**
 * `--service NAME` (or `--service=NAME`) or `--all` is ours; every other argument is Prisma's and passes
 * through in order, whatever options Prisma takes (node:util's parseArgs, not strict, keeps their places).
 */
function readArguments() {
  const argv = process.argv.slice(2);
  const { tokens = [] } = parseArgs({
    args: argv,
    options: { service: { type: 'string' }, all: { type: 'boolean' } },
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const ours = tokens.filter((token) => token.kind === 'option' && (token.name === 'service' || token.name === 'all'));
  const taken = new Set(
    ours.flatMap((token) => (token.kind === 'option' && token.name === 'service' && !token.inlineValue ? [token.index, token.index + 1] : [token.index])),
  );
  const all = ours.some((token) => token.kind === 'option' && token.name === 'all');
  const named = ours.filter((token) => token.kind === 'option' && token.name === 'service').map((token) => (token.kind === 'option' ? token.value : undefined));
  const args = argv.filter((_, index) => !taken.has(index));
  if (all && named.length === 0) return { services: CLI_SERVICES, args };
  if (!all && named.length === 1 && typeof named[0] === 'string' && CLI_SERVICES.includes(named[0])) return { services: [named[0]], args };
  console.error(USAGE);
  process.exit(2);
}

const { services, args } = readArguments();

const cli = path.join(path.dirname(require.resolve('prisma/package.json')), 'build', 'index.js');
// Node's compile cache, as the launcher gives the services (scripts/src/processes.ts): Prisma's CLI is a
// large bundle compiled afresh on every run otherwise, a sixth of a migration's CPU.
const compileCache = process.env.NODE_COMPILE_CACHE || path.join(os.tmpdir(), 'fedstack-compile-cache');
for (const service of services) {
  const result = spawnSync(process.execPath, [cli, ...cliArguments(service, args)], {
    cwd: path.resolve(__dirname, '..'),
    env: { ...process.env, NODE_COMPILE_CACHE: compileCache, ...offlineCliEnvironment(service) },
    stdio: 'inherit',
  });
  if (result.error) throw result.error;
  if (result.status !== 0) process.exit(result.status ?? 1);
}
