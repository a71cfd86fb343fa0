import pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient, Prisma } from './generated/prisma/client';
import { serviceConnection } from './config';
import type { OwnModels, ReachableModels } from './grants';
import { SERVICES, type Service } from './services';

type RawAccess = '$queryRaw' | '$executeRaw' | '$queryRawUnsafe' | '$executeRawUnsafe';

/** What a service may use inside one of its own transactions: its own models and raw SQL. */
export type ServiceTransaction<S extends Service> = Pick<Prisma.TransactionClient, OwnModels<S> | RawAccess>;

/** A transaction spanning schemas: every model the service's role has a grant on. */
export type CrossServiceTransaction<S extends Service> = Pick<Prisma.TransactionClient, ReachableModels<S> | RawAccess>;

interface TransactionOptions {
  isolationLevel?: Prisma.TransactionIsolationLevel;
  /** Milliseconds the transaction may run before it is rolled back. */
  timeout?: number;
  /** Milliseconds to wait for a connection from the pool. */
  maxWait?: number;
}

/**
 * A Prisma client that can only name its own service's models: a payments resolver cannot even write
 * `db.user`. PostgreSQL's grants enforce the same boundary at run time.
 */
export type ServiceClient<S extends Service> = Pick<PrismaClient, OwnModels<S> | RawAccess | '$disconnect'> & {
  readonly service: S;
  $transaction<R>(work: (tx: ServiceTransaction<S>) => Promise<R>, options?: TransactionOptions): Promise<R>;
};

/** One SQL statement as the pool saw it: which schema it touched, how long it took, whether it failed. */
export interface QueryEvent {
  service: Service;
  schema: Service;
  sql: string;
  durationMs: number;
  failed: boolean;
}

export interface ServiceClientOptions {
  /** Connection string; defaults to the service's configured connection (see `serviceConnection`). */
  url?: string;
  /** Connections in this process's pool. */
  poolSize?: number;
  /** Called after every SQL statement, for metrics and statement counting. */
  onQuery?: (event: QueryEvent) => void;
}

const SCHEMA_QUALIFIER = new RegExp(`(?:^|[\\s(,])"?(${SERVICES.join('|')})"?\\.`);

/** The schema a statement works in: Prisma qualifies every table, so the first qualifier names it. */
function schemaOf(sql: string, fallback: Service): Service {
  return (SCHEMA_QUALIFIER.exec(sql)?.[1] as Service | undefined) ?? fallback;
}

function instrumentedClientClass(service: Service, onQuery: (event: QueryEvent) => void): typeof pg.Client {
  return class InstrumentedClient extends pg.Client {
    // pg's query overloads cannot be forwarded precisely; the promise and callback forms are both timed.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    override query(...args: any[]): any {
      const first = args[0] as string | { text?: string } | undefined;
      const sql = typeof first === 'string' ? first : (first?.text ?? '');
      const started = performance.now();
      const report = (failed: boolean) =>
        onQuery({ service, schema: schemaOf(sql, service), sql, durationMs: performance.now() - started, failed });
      const last = args[args.length - 1];
      if (typeof last === 'function') {
        args[args.length - 1] = (error: Error | undefined, result: unknown) => {
          report(Boolean(error));
          last(error, result);
        };
        return (super.query as (...a: unknown[]) => unknown)(...args);
      }
      return (super.query as (...a: unknown[]) => Promise<unknown>)(...args).then(
        (result) => {
          report(false);
          return result;
        },
        (error: unknown) => {
          report(true);
          throw error;
        },
      );
    }
  };
}

/**
 * Creates the one Prisma client a service process uses, connected as the service's own role with its
 * own pool. Explicit options win over the environment.
 */
export function createServiceClient<S extends Service>(service: S, options: ServiceClientOptions = {}): ServiceClient<S> {
  const url = options.url ?? serviceConnection(service).url;
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    ...(options.onQuery ? { Client: instrumentedClientClass(service, options.onQuery) } : {}),
  });
  const client = new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true }) });
  return Object.assign(client, { service }) as unknown as ServiceClient<S>;
}

/**
 * Runs work that must span schemas in one database transaction: all of it commits or none of it does.
 * The transaction can name every model the service's role has a grant on, and no other.
 */
export function crossServiceTransaction<S extends Service, R>(
  client: ServiceClient<S>,
  work: (tx: CrossServiceTransaction<S>) => Promise<R>,
  options: TransactionOptions = {},
): Promise<R> {
  const prisma = client as unknown as PrismaClient;
  return prisma.$transaction((tx) => work(tx), options);
}
