// @ts-check
'use strict';
/**
 * Every adjustment this project makes to Prisma so that its CLI (6.19, on the WebAssembly schema engine
 * through @prisma/adapter-pg) migrates offline: nowhere else patches, wraps or configures around Prisma.
 * Each one names the upstream issue, and prisma-workarounds.test.ts has a test per workaround that fails
 * once an upgrade makes it unnecessary, so that it can be deleted then (docs/adr/0001-prisma-offline.md).
 *
 * Plain JavaScript, type-checked: the CLI launcher (scripts/prisma-offline.js) needs it before the
 * TypeScript build, which itself starts by running `prisma generate` through that launcher.
 */
const { createHook } = require('node:async_hooks');
const { randomUUID } = require('node:crypto');
const path = require('node:path');
const pg = require('pg');
const { PrismaPg } = require('@prisma/adapter-pg');
const { ColumnTypeEnum } = require('@prisma/driver-adapter-utils');

/**
 * The services whose schemas the CLI works on; @fedstack/runtime's SERVICES, which this file cannot
 * import before the build (tools/src/stack.test.ts checks they agree).
 */
const CLI_SERVICES = ['auth', 'profile', 'payments', 'admin'];

/**
 * 1. The environment the CLI runs in. Whenever it cannot read the schema's `engineType` (DATABASE_URL
 * unset, as during `generate` at build time, or a schema it cannot parse) it falls back to the native
 * query engine library and tries to download it, which fails offline; naming any existing file as the
 * library stops that (the WebAssembly engines never load it). Upstream: prisma/orm#18595 (engines in an
 * offline environment), prisma/orm#19666.
 *
 * @param {string} service the service whose schema and history the CLI works on (read by prisma.config.ts)
 * @returns {Record<string, string>}
 */
function offlineCliEnvironment(service) {
  return {
    PRISMA_SERVICE: service,
    PRISMA_QUERY_ENGINE_LIBRARY: require.resolve('prisma/package.json'),
    CHECKPOINT_DISABLE: '1',
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
  };
}

const PG_INTERNAL_CHAR_OID = 18;
const PG_TEXT_OID = 25;

/** Result rows whose columns had PostgreSQL's internal `"char"` type, by column index. */
/** @type {WeakMap<unknown[], number[]>} */
const charColumnsOf = new WeakMap();

/**
 * 2. PostgreSQL's internal `"char"` type (OID 18), which the schema engine's catalog queries return and
 * adapter-pg cannot map ("Column type 'char' could not be deserialized" in `migrate diff`): such columns
 * pass the adapter as text and reach the engine as characters. Upstream: prisma/orm#27403 ("Prisma
 * Migrate fails when using @prisma/adapter-pg through prisma.config.ts"), the same failure for the
 * catalogs' `name` type (OID 19), which adapter-pg 7 now maps; `"char"` (OID 18) is still unmapped, and
 * no issue names it (searched 2026-12-02; prisma/orm#28145 is the same class, for raw queries on the
 * catalogs).
 *
 * @template T
 * @param {T} result
 * @returns {T}
 */
function markCharColumns(result) {
  const { fields, rows } = /** @type {{ fields?: { dataTypeID: number }[], rows?: unknown[] }} */ (result ?? {});
  /** @type {number[]} */
  const charColumns = [];
  fields?.forEach((field, index) => {
    if (field.dataTypeID !== PG_INTERNAL_CHAR_OID) return;
    field.dataTypeID = PG_TEXT_OID;
    charColumns.push(index);
  });
  if (rows && charColumns.length > 0) charColumnsOf.set(rows, charColumns);
  return result;
}

/** A pg client whose results carry workaround 2's marks. */
class CatalogFriendlyClient extends pg.Client {
  /**
   * pg's overloads cannot be forwarded precisely; the promise and the callback forms are both handled.
   * @override
   * @param {unknown[]} args
   * @returns {any} whatever the overload returns
   */
  query(...args) {
    const last = args[args.length - 1];
    const query = /** @type {(...a: unknown[]) => unknown} */ (super.query.bind(this));
    if (typeof last === 'function') {
      const callback = /** @type {(error: Error | undefined, result: unknown) => void} */ (last);
      args[args.length - 1] = (/** @type {Error | undefined} */ error, /** @type {unknown} */ result) => callback(error, markCharColumns(result));
      return query(...args);
    }
    return /** @type {Promise<unknown>} */ (query(...args)).then(markCharColumns);
  }
}

/**
 * 3. The migration connection, built from separate fields rather than a connection string: pg lets
 * `connectionString` override `database`, so the stock adapter's shadow database pool connected to the
 * main database and replayed every migration there (P3006 "failed to apply cleanly to the shadow
 * database"). Upstream: no prisma/orm issue exists (searched 2026-12-02); adapter-pg's
 * `connectToShadowDb` still builds its pool as `{ ...config, database }`. The cause is pg's: beside a
 * `connectionString` it ignores `user`, `password` and `database` (brianc/node-postgres#3327, open), so
 * a fix belongs in adapter-pg, which would have to parse the string as this does. Each history's
 * `_prisma_migrations` lives in its service's schema, the only one on the search path (ADR 0006).
 *
 * @param {string} url the database owner's connection
 * @param {string} service
 * @returns {pg.PoolConfig}
 */
function migrationConnection(url, service) {
  const parsed = new URL(url);
  return {
    host: decodeURIComponent(parsed.hostname),
    port: parsed.port ? Number(parsed.port) : 5432,
    user: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
    database: decodeURIComponent(parsed.pathname.slice(1)) || 'postgres',
    options: `-c search_path=${service}`,
    Client: CatalogFriendlyClient,
    // The CLI never closes the pool; without this it waits out the idle timeout before exiting.
    allowExitOnIdle: true,
  };
}

/** @typedef {Awaited<ReturnType<PrismaPg['connect']>> & { onError(error: unknown): never }} MigrationConnection */

/** adapter-pg for the CLI, with workarounds 2, 4 and 5. */
class MigrationAdapterFactory extends PrismaPg {
  /** @param {pg.PoolConfig} fields from `migrationConnection` */
  constructor(fields) {
    super(fields);
    this.fields = fields;
  }

  /**
   * 4. Migration scripts sent whole: adapter-pg splits them on every ";", which breaks function bodies
   * ("unterminated dollar-quoted string") and leaves a migration half-applied. Sent whole, a script also
   * runs as one implicit transaction. Upstream: prisma/orm PR #27510 only skips empty statements; the
   * split remains.
   * @override
   */
  async connect() {
    const adapter = /** @type {MigrationConnection} */ (await super.connect());
    const queryRaw = adapter.queryRaw.bind(adapter);
    adapter.queryRaw = async (query) => {
      const result = await queryRaw(query);
      for (const index of charColumnsOf.get(result.rows) ?? []) result.columnTypes[index] = ColumnTypeEnum.Character;
      return result;
    };
    adapter.executeScript = async (script) => {
      try {
        await /** @type {pg.Pool} */ (adapter.underlyingDriver()).query(script);
      } catch (error) {
        adapter.onError(error);
      }
    };
    return adapter;
  }

  /**
   * 5. The shadow database (for `migrate diff`), created and dropped here: the stock adapter drops it
   * while its own pool is still connected, which PostgreSQL refuses (55006), leaving it behind; and its
   * shadow connection lacks workarounds 2 and 4. Upstream: the same error with the native engine is
   * prisma/orm#22845.
   * @override
   */
  async connectToShadowDb() {
    const shadowDatabase = `prisma_shadow_${randomUUID().replaceAll('-', '')}`;
    await this.adminQuery(`CREATE DATABASE "${shadowDatabase}"`);
    const shadow = await new MigrationAdapterFactory({ ...this.fields, database: shadowDatabase }).connect();
    const dispose = shadow.dispose.bind(shadow);
    shadow.dispose = async () => {
      await dispose();
      await this.adminQuery(`DROP DATABASE IF EXISTS "${shadowDatabase}" WITH (FORCE)`);
    };
    return shadow;
  }

  /** @param {string} sql */
  async adminQuery(sql) {
    const client = new pg.Client(this.fields);
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  }
}

/**
 * 6. The schema engine's timers do not hold the CLI open. The engine imports `setTimeout` but no
 * `clearTimeout`, so the 10 s timeout it puts on taking its advisory lock stays armed after the lock is
 * taken, and every `migrate deploy` waited 10 s before exiting (0.7 s without). An async hook (Node's API
 * for observing resources; nothing is replaced) unrefs the timers the engine's WebAssembly creates: they
 * still fire, but no longer keep the process alive on their own. Only the CLI process enables it
 * (prisma.config.ts). Upstream: none exists (searched 2026-12-02), and none is likely: the WebAssembly
 * schema engine (`engine: "js"`) is an early-access path of Prisma 6 that Prisma 7 removed (ADR 0001), so
 * the timer is fixed only if 6.x gets a release for it. prisma/orm#29169 (the CLI not exiting after
 * `migrate deploy`) is the native engine's, on Alpine, with another cause.
 *
 * @returns {import('node:async_hooks').AsyncHook} the enabled hook
 */
function releaseEngineTimers() {
  return createHook({
    init(_asyncId, type, _triggerAsyncId, resource) {
      if (type !== 'Timeout') return;
      if (new Error().stack?.includes('wasm://')) /** @type {NodeJS.Timeout} */ (resource).unref();
    },
  }).enable();
}

/**
 * 7. `db execute` on the service's database. Prisma 6.19's `db execute` takes its connection from the
 * config's adapter, yet refuses to run unless `--schema` or `--url` names a target ("Either --url or
 * --schema must be provided"), so `db:prisma -- --service payments db execute --stdin` failed. Given
 * neither, the service's schema is named, as prisma.config.ts names it. Upstream: fixed in Prisma 7, whose
 * `db execute` reads the config alone and no longer takes `--schema` (prisma/orm#28915); 6.x keeps it.
 *
 * @param {string} service the service the CLI works on
 * @param {string[]} args Prisma's arguments
 * @returns {string[]} the arguments to run it with
 */
function cliArguments(service, args) {
  const [command, subcommand] = args.filter((arg) => !arg.startsWith('-'));
  const targeted = args.some((arg) => /^--(url|schema)(=|$)/.test(arg));
  if (command !== 'db' || subcommand !== 'execute' || targeted) return args;
  return [...args, '--schema', path.join('prisma', service, 'schema.prisma')];
}

module.exports = { CLI_SERVICES, offlineCliEnvironment, cliArguments, migrationConnection, MigrationAdapterFactory, releaseEngineTimers };
