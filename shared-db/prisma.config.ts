import path from 'node:path';
import pg from 'pg';
import { defineConfig } from 'prisma/config';
import { PrismaPg } from '@prisma/adapter-pg';
import { ColumnTypeEnum } from '@prisma/driver-adapter-utils';

// Prisma's CLI runs here on its WebAssembly schema engine through the pg driver adapter, because the
// native engines cannot be downloaded on machines without internet (docs/adr/0001-prisma-offline.md).
// The adjustments below are what `migrate deploy` and `migrate diff --from-migrations` need from it.

const PG_INTERNAL_CHAR_OID = 18;
const PG_TEXT_OID = 25;
// The driver adapter's column type for a single character; it has no mapping from OID 18 to it.
const ADAPTER_CHARACTER_COLUMN = ColumnTypeEnum.Character;

/** Result rows whose columns had PostgreSQL's internal `"char"` type, by column index. */
const charColumnsOf = new WeakMap<unknown[], number[]>();

/**
 * The schema engine's catalog queries return `"char"` columns (OID 18), which the adapter rejects.
 * They pass the adapter as text and are reported to the engine as characters, which it expects.
 */
function markCharColumns<T>(result: T): T {
  const { fields, rows } = (result ?? {}) as { fields?: { dataTypeID: number }[]; rows?: unknown[] };
  const charColumns: number[] = [];
  fields?.forEach((field, index) => {
    if (field.dataTypeID !== PG_INTERNAL_CHAR_OID) return;
    field.dataTypeID = PG_TEXT_OID;
    charColumns.push(index);
  });
  if (rows && charColumns.length > 0) charColumnsOf.set(rows, charColumns);
  return result;
}

class CatalogFriendlyClient extends pg.Client {
  // pg's overloads cannot be forwarded precisely; both the promise and the callback forms are handled.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override query(...args: any[]): any {
    const last = args[args.length - 1];
    if (typeof last === 'function') {
      args[args.length - 1] = (err: Error | undefined, res: unknown) => last(err, markCharColumns(res));
      return (super.query as (...a: unknown[]) => unknown)(...args);
    }
    return (super.query as (...a: unknown[]) => Promise<unknown>)(...args).then(markCharColumns);
  }
}

/** The service whose schema, migrations and `_prisma_migrations` this run of the CLI works on. */
function selectedService(): string {
  const service = process.env.PRISMA_SERVICE ?? '';
  if (!['auth', 'profile', 'payments', 'admin'].includes(service)) {
    throw new Error(`PRISMA_SERVICE must name the service to work on: auth, profile, payments or admin (got "${service}")`);
  }
  return service;
}

function connectionFields(url: string, service: string): pg.PoolConfig {
  const parsed = new URL(url);
  return {
    host: decodeURIComponent(parsed.hostname),
    port: parsed.port ? Number(parsed.port) : 5432,
    user: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
    database: decodeURIComponent(parsed.pathname.slice(1)) || 'postgres',
    // Each history's _prisma_migrations table lives in its service's schema, the only one on the path.
    options: `-c search_path=${service}`,
    Client: CatalogFriendlyClient,
    // The CLI never closes the pool; without this it waits out the idle timeout before exiting.
    allowExitOnIdle: true,
  };
}

type ScriptRunner = Awaited<ReturnType<PrismaPg['connect']>> & { onError(error: unknown): never };

class MigrationAdapterFactory extends PrismaPg {
  constructor(private readonly fields: pg.PoolConfig) {
    super(fields);
  }

  /**
   * The stock adapter splits a migration on every ";", which breaks function bodies. Sent whole, the
   * script also runs as one implicit transaction, so a failing migration leaves nothing half-applied.
   */
  override async connect() {
    const adapter = (await super.connect()) as ScriptRunner;
    const queryRaw = adapter.queryRaw.bind(adapter);
    adapter.queryRaw = async (query) => {
      const result = await queryRaw(query);
      for (const index of charColumnsOf.get(result.rows) ?? []) result.columnTypes[index] = ADAPTER_CHARACTER_COLUMN;
      return result;
    };
    adapter.executeScript = async (script: string) => {
      try {
        await (adapter.underlyingDriver() as pg.Pool).query(script);
      } catch (error) {
        adapter.onError(error);
      }
    };
    return adapter;
  }

  /** The stock adapter drops the shadow database before closing its pool, which PostgreSQL refuses. */
  override async connectToShadowDb() {
    const shadowDatabase = `prisma_shadow_${crypto.randomUUID().replaceAll('-', '')}`;
    const admin = new pg.Client(this.fields);
    await admin.connect();
    await admin.query(`CREATE DATABASE "${shadowDatabase}"`);
    await admin.end();
    const shadow = await new MigrationAdapterFactory({ ...this.fields, database: shadowDatabase }).connect();
    const dispose = shadow.dispose.bind(shadow);
    shadow.dispose = async () => {
      await dispose();
      const dropper = new pg.Client(this.fields);
      await dropper.connect();
      await dropper.query(`DROP DATABASE IF EXISTS "${shadowDatabase}" WITH (FORCE)`);
      await dropper.end();
    };
    return shadow;
  }
}

/**
 * The WebAssembly schema engine arms a timer (its 10 s lock timeout) that it never clears, which holds
 * the CLI open for 10 s after every `migrate deploy`. Its timers still fire; they just may not keep
 * the process alive on their own.
 */
function unrefSchemaEngineTimers(): void {
  const armTimer = globalThis.setTimeout;
  const armUnlessEngine = (...args: Parameters<typeof setTimeout>) => {
    const timer = armTimer(...args);
    if (new Error().stack?.includes('wasm://')) timer.unref();
    return timer;
  };
  globalThis.setTimeout = Object.assign(armUnlessEngine, armTimer);
}
unrefSchemaEngineTimers();

const service = selectedService();

export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: path.join('prisma', service, 'schema.prisma'),
  migrations: { path: path.join('prisma', service, 'migrations') },
  async adapter() {
    const url = process.env.DATABASE_URL;
    if (!url) throw new Error(`DATABASE_URL must name the owner's connection to the ${service} database for Prisma's CLI`);
    return new MigrationAdapterFactory(connectionFields(url, service));
  },
});
