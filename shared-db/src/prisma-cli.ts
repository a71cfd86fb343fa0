// Prisma's CLI, run offline on one service's schema and migration history.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { Service } from '@fedstack/runtime';

const SHARED_DB_ROOT = path.resolve(__dirname, '..');

export interface PrismaCliResult {
  code: number;
  output: string;
}

/**
 * Runs Prisma's CLI on one service's schema and migrations through `scripts/prisma-offline.js`, which
 * arranges what the CLI needs to run without network; output is passed through, or captured.
 */
export function runPrismaCli(service: Service, args: string[], options: { ownerUrl?: string; capture?: boolean } = {}): Promise<PrismaCliResult> {
  return new Promise((resolve, reject) => {
    const script = path.join(SHARED_DB_ROOT, 'scripts', 'prisma-offline.js');
    const child = spawn(process.execPath, [script, '--service', service, ...args], {
      env: { ...process.env, ...(options.ownerUrl ? { DATABASE_URL: options.ownerUrl } : {}) },
      stdio: options.capture ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

/** Runs Prisma's CLI and fails with its output when it fails. */
export async function runPrisma(service: Service, args: string[], ownerUrl: string, quiet: boolean): Promise<void> {
  const result = await runPrismaCli(service, args, { ownerUrl, capture: quiet });
  if (result.code !== 0) {
    throw new Error(`prisma ${args.join(' ')} failed for ${service} (exit ${result.code})${result.output ? `:\n${result.output}` : ''}`);
  }
}

/** Where the repository holds a service's migrations, a folder each. */
export function migrationsDir(service: Service): string {
  return path.join(SHARED_DB_ROOT, 'prisma', service, 'migrations');
}

/** The migrations the repository holds for a service, oldest first. */
export function migrationNames(service: Service): string[] {
  return readdirSync(migrationsDir(service), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}
