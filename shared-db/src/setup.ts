import { spawn } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { allServiceConnections, type ServiceConnection } from './config';
import { explainConnectionError } from './errors';
import { grantStatements } from './grants';
import type { Service } from './services';

const SHARED_DB_ROOT = path.resolve(__dirname, '..');

/** Connects, or fails with one line that names the setting and the problem. */
export async function connectOrExplain(url: string, setting: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw explainConnectionError(error, url, setting);
  }
  return client;
}

async function withOwner<R>(ownerUrl: string, work: (client: pg.Client) => Promise<R>): Promise<R> {
  const client = await connectOrExplain(ownerUrl, 'DATABASE_URL');
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * Creates the four service roles if missing and sets their passwords; safe to run again. The roles can
 * log in and nothing more: no superuser, no role or database creation, no inherited privileges.
 */
export async function ensureServiceRoles(
  ownerUrl: string,
  connections: Record<Service, ServiceConnection> = allServiceConnections(),
): Promise<void> {
  await withOwner(ownerUrl, async (client) => {
    for (const { role, password } of Object.values(connections)) {
      const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
      const verb = exists.rowCount ? 'ALTER' : 'CREATE';
      const passwordLiteral = client.escapeLiteral(password);
      // Two runs may race to create a role (parallel test runs on one server); the loser just alters it.
      try {
        await client.query(
          `${verb} ROLE "${role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD ${passwordLiteral}`,
        );
      } catch (error) {
        if ((error as { code?: string }).code !== '42710') throw error;
        await client.query(`ALTER ROLE "${role}" LOGIN PASSWORD ${passwordLiteral}`);
      }
    }
  });
}

/** Makes the database's privileges equal the grants matrix, in one transaction. */
export async function applyGrants(
  ownerUrl: string,
  connections: Record<Service, ServiceConnection> = allServiceConnections(),
): Promise<void> {
  const roles = Object.fromEntries(Object.entries(connections).map(([service, c]) => [service, c.role])) as Record<
    Service,
    string
  >;
  await withOwner(ownerUrl, async (client) => {
    await client.query('BEGIN');
    try {
      for (const statement of grantStatements(roles)) await client.query(statement);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    }
  });
}

export interface PrismaCliResult {
  code: number;
  output: string;
}

/**
 * Runs Prisma's CLI through `scripts/prisma-offline.js`, which arranges what the CLI needs to run
 * without network; output is passed through, or captured when `capture` is set.
 */
export function runPrismaCli(
  args: string[],
  options: { ownerUrl?: string; capture?: boolean } = {},
): Promise<PrismaCliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(SHARED_DB_ROOT, 'scripts', 'prisma-offline.js'), ...args], {
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

/** Applies pending migrations with `prisma migrate deploy`; prints Prisma's own account unless quiet. */
export async function runMigrations(ownerUrl: string, options: { quiet?: boolean } = {}): Promise<void> {
  const result = await runPrismaCli(['migrate', 'deploy'], { ownerUrl, capture: options.quiet ?? false });
  if (result.code !== 0) {
    throw new Error(`prisma migrate deploy failed (exit ${result.code})${result.output ? `:\n${result.output}` : ''}`);
  }
}

/**
 * Everything the owner does before services connect: roles (they must exist before grants),
 * migrations, then grants on the tables the migrations made. Idempotent.
 */
export async function prepareDatabase(ownerUrl: string, options: { quiet?: boolean } = {}): Promise<void> {
  const connections = allServiceConnections({ ...process.env, DATABASE_URL: ownerUrl });
  await ensureServiceRoles(ownerUrl, connections);
  await runMigrations(ownerUrl, options);
  await applyGrants(ownerUrl, connections);
}
