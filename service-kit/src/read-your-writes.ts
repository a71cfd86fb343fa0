// Which of a request's reads may go to a replica, and the WAL positions its writes reached (docs/adr/0012-read-replicas.md).
import type { IncomingHttpHeaders } from 'node:http';
import type { ApolloServerPlugin } from '@apollo/server';
import { OperationTypeNode } from 'graphql';
import { WAL_POSITIONS_HEADER, WalPositions, requestPositions, type Logger, type Service } from '@fedstack/runtime';
import type { PreparedStatement, ServiceClient } from '@fedstack/shared-db';

/** A read whose answer may be a little behind: a page, a total, an entity looked up by key. */
export type StaleRead = <R>(statement: PreparedStatement, values: readonly unknown[]) => Promise<R[]>;

/**
 * One request's reads and writes as far as replicas go. Its reads go to a replica that has replayed the
 * position the gateway sent for this service (the client's earlier writes, or this request's), else to
 * the primary; in a mutation, or for a subscription's event, always to the primary, which has the writes
 * the operation just made or was told of.
 */
export class RequestReads {
  /** Positions this request's writes reached: this service's own after a mutation, and those of the services it asked to write. */
  readonly written = new WalPositions();
  private mutation = false;

  private constructor(
    private readonly db: ServiceClient<Service>,
    /** This service's position the reads must have seen; null: the primary's latest. */
    private readonly readAfter: string | undefined | null,
  ) {}

  /**
   * A request's reads, after the position its `x-wal-positions` header gives for this service (the
   * gateway sends each service its own). A header that is not positions is refused as bad input.
   */
  static forRequest(db: ServiceClient<Service>, headers: IncomingHttpHeaders): RequestReads {
    return new RequestReads(db, requestPositions(headers).get(db.service));
  }

  /** Reads that must see the latest state: a subscription's, after the notification of a commit. */
  static onPrimary(db: ServiceClient<Service>): RequestReads {
    return new RequestReads(db, null);
  }

  /** The operation is a mutation: from now on its reads see what it wrote, and its answer says where the primary was. */
  mutating(): void {
    this.mutation = true;
  }

  get isMutation(): boolean {
    return this.mutation;
  }

  /** A read that may be a little behind (see the class). */
  readonly read: StaleRead = (statement, values) =>
    this.mutation || this.readAfter === null
      ? this.db.sql(statement, values)
      : this.db.readSql(statement, values, this.readAfter === undefined ? {} : { minLsn: this.readAfter });
}

/**
 * Where the service's primary is after a write that has committed, for the client's next reads; undefined
 * without replicas, or when it cannot be read (the write stands either way, and its reads may be stale).
 */
export function positionAfterWrites(db: ServiceClient<Service>, logger: Logger): () => Promise<string | undefined> {
  return async () => {
    if (!db.hasReplicas) return undefined;
    try {
      return await db.walPosition();
    } catch (error) {
      logger.warn({ reason: (error as Error).message }, 'could not read the WAL position after a write');
      return undefined;
    }
  };
}

/**
 * Marks mutations as such when they are resolved, and after one, with replicas configured, returns the
 * primary's position (with the positions of the services the mutation asked to write) in the
 * `x-wal-positions` response header, for the gateway to carry.
 */
export function readYourWritesPlugin(db: ServiceClient<Service>, logger: Logger): ApolloServerPlugin<{ reads: RequestReads }> {
  const positionNow = positionAfterWrites(db, logger);
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, contextValue }) {
          if (operation?.operation === OperationTypeNode.MUTATION) contextValue.reads.mutating();
        },
        async willSendResponse({ contextValue, response }) {
          // An HTTP error before the context was made (a malformed header) has none.
          const reads = contextValue.reads as RequestReads | undefined;
          if (!reads) return;
          const position = reads.isMutation ? await positionNow() : undefined;
          if (position) reads.written.add(db.service, position);
          const header = reads.written.toHeader();
          if (header) response.http.headers.set(WAL_POSITIONS_HEADER, header);
        },
      };
    },
  };
}
