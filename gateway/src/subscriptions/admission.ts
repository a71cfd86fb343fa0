// What every transport does before a subscription starts: who the subscriber is, whether the operation is valid and within limits, and whether there is room for it.
import {
  GraphQLError,
  OperationTypeNode,
  getOperationAST,
  getVariableValues,
  parse,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { decodeJwt } from 'jose';
import { LRUCache } from 'lru-cache';
import { ErrorCode, bearerToken, validateSubscriptionDocument, type Logger } from '@fedstack/runtime';
import type { OperationLimitCheck } from '../limits';
import type { PersistedDocuments } from '../persisted';
import type { GatewayContext } from '../subgraphs';
import type { SubscriptionPlanner } from './planner';

/** Who subscribes, as auth answers for their access token. */
export interface Subscriber {
  userId: string;
  role: string;
  authorization: string;
  /** When the access token expires (epoch milliseconds), as its `exp` says. */
  expiresAt?: number;
}

/** The `exp` of a bearer token auth has just accepted, in epoch milliseconds; undefined if it has none. */
function expiryOf(authorization: string): number | undefined {
  try {
    const { exp } = decodeJwt(bearerToken(authorization) ?? '');
    return exp === undefined ? undefined : exp * 1000;
  } catch {
    return undefined;
  }
}

/** A request to run an operation over a streaming transport: GraphQL over HTTP's parameters. */
export interface OperationPayload {
  query?: unknown;
  variables?: unknown;
  operationName?: unknown;
  extensions?: unknown;
}

export interface Admitted {
  document: DocumentNode;
  operation: OperationDefinitionNode;
  operationName: string | undefined;
  variables: Record<string, unknown>;
}

const refusal = (code: string, message: string, extensions: Record<string, unknown> = {}) => new GraphQLError(message, { extensions: { code, ...extensions } });

/** A refusal made for plain HTTP, for a stream: the status and headers HTTP would have answered with are not the subscriber's to see. */
export function withoutHttp(error: GraphQLError): GraphQLError {
  const { http: _http, ...extensions } = error.extensions;
  return new GraphQLError(error.message, { extensions });
}

const IDENTIFY = 'query GatewaySubscriber { me { id role } }';
/** The longest Authorization header sent on to auth: its tokens are well under 1 kB. */
const MAX_AUTHORIZATION_LENGTH = 8192;

/**
 * The checks before a subscription starts, shared by WebSocket, SSE and multipart HTTP. The subscriber
 * is identified once, by asking auth through the gateway itself who the access token belongs to (so a
 * token auth refuses, of a suspended account say, is refused here as it would be for a query); the
 * document is parsed, validated against the supergraph's API schema and held to the gateway's limits
 * (depth, aliases, directives, cost); and there must be room for it on the connection and for the user.
 */
/** Distinct documents kept parsed and validated: clients send the same few subscriptions many times. */
const DOCUMENTS_KEPT = 500;

/**
 * Counts of what each user holds (subscriptions, connections), taken one at a time up to a bound and
 * given back by what `take` returns, once.
 */
class HeldPerUser {
  private readonly held = new Map<string, number>();

  constructor(private readonly max: number) {}

  take(userId: string): (() => void) | undefined {
    const held = this.held.get(userId) ?? 0;
    if (held >= this.max) return undefined;
    this.held.set(userId, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.held.get(userId) ?? 1) - 1;
      if (left > 0) this.held.set(userId, left);
      else this.held.delete(userId);
    };
  }
}

export class SubscriptionAdmission {
  private readonly subscriptions: HeldPerUser;
  private readonly connections: HeldPerUser;
  /**
   * Valid documents by their text, for the schema they were validated against: a thousand subscribers
   * of one subscription share one parsed document, and so one query plan (planned per document).
   */
  private readonly documents = new LRUCache<string, DocumentNode>({ max: DOCUMENTS_KEPT });
  private documentsSchema: GraphQLSchema | undefined;

  constructor(
    private readonly options: {
      /** Runs a query or mutation as the gateway's HTTP endpoint would. */
      execute: (
        request: { query: string | DocumentNode; variables?: Record<string, unknown>; operationName?: string },
        context: object,
      ) => Promise<ExecutionResult>;
      planner: SubscriptionPlanner;
      limits: OperationLimitCheck;
      documents: PersistedDocuments;
      maxTokens: number;
      maxPerConnection: number;
      maxPerUser: number;
      maxConnectionsPerUser: number;
      /**
       * The largest subscribe message a subgraph takes (its MAX_BODY_BYTES, the gateway's own): the plan
       * may repeat a fragment at each place it is spread, and a message past a subgraph's limit closed the
       * gateway's one connection to it, every subscriber's.
       */
      maxUpstreamBytes: number;
      /** Leaves "Did you mean …?" out of validation errors (production: the schema introspection keeps to itself). */
      hideSuggestions: boolean;
    },
  ) {
    this.subscriptions = new HeldPerUser(options.maxPerUser);
    this.connections = new HeldPerUser(options.maxConnectionsPerUser);
  }

  /** The subscriber an Authorization header stands for, or the refusal (UNAUTHENTICATED, FORBIDDEN) auth gave. */
  async identify(authorization: string | undefined, context: GatewayContext & { logger: Logger }): Promise<Subscriber | GraphQLError> {
    if (!authorization) return refusal(ErrorCode.UNAUTHENTICATED, 'Subscriptions need an access token: "authorization": "Bearer <token>"');
    // Sent on to auth as a header: one no header can carry (from a WebSocket's JSON) would fail the call.
    if (!bearerToken(authorization)) return refusal(ErrorCode.UNAUTHENTICATED, '"authorization" must be "Bearer <access token>"');
    // Nor one longer than auth's headers may be (16 KiB): refused there, it read as auth being down (1013, try again).
    if (authorization.length > MAX_AUTHORIZATION_LENGTH) return refusal(ErrorCode.UNAUTHENTICATED, 'The access token is not valid');
    const result = await this.options.execute({ query: IDENTIFY }, { ...context, authorization });
    const me = (result.data as { me?: { id: string; role: string } | null } | undefined)?.me;
    if (me) {
      const expiresAt = expiryOf(authorization);
      return { userId: me.id, role: me.role, authorization, ...(expiresAt === undefined ? {} : { expiresAt }) };
    }
    const error = result.errors?.[0];
    const code = error?.extensions?.code;
    // Naming the subgraph that could not answer (SUBGRAPH_UNAVAILABLE), as a query's error does.
    const { serviceName } = error?.extensions ?? {};
    return refusal(
      typeof code === 'string' ? code : ErrorCode.UNAUTHENTICATED,
      error?.message ?? 'The access token is not valid',
      serviceName ? { serviceName } : {},
    );
  }

  /** The operation a payload asks for, parsed, validated and within limits; or why not. */
  prepare(payload: OperationPayload): Admitted | GraphQLError[] {
    // Over a stream there is no APQ to fall back on: an id must be a listed one.
    const resolved = this.options.documents.resolve(payload, { automaticPersistedQueries: false });
    if (resolved instanceof GraphQLError) return [withoutHttp(resolved)];
    const query = resolved.query;
    if (typeof query !== 'string') return [refusal('BAD_REQUEST', 'The operation needs a "query" string')];
    if (payload.operationName !== undefined && payload.operationName !== null && typeof payload.operationName !== 'string') {
      return [refusal('BAD_REQUEST', '"operationName" must be a string')];
    }
    const variables = payload.variables ?? {};
    if (typeof variables !== 'object' || variables === null || Array.isArray(variables)) return [refusal('BAD_REQUEST', '"variables" must be an object')];
    const schema = this.options.planner.schema;
    if (schema !== this.documentsSchema) {
      this.documents.clear();
      this.documentsSchema = schema;
    }
    let document = this.documents.get(query);
    if (!document) {
      try {
        document = parse(query, { maxTokens: this.options.maxTokens });
      } catch (error) {
        return [refusal('GRAPHQL_PARSE_FAILED', (error as Error).message)];
      }
      const invalid = validateSubscriptionDocument(schema, document, { hideSuggestions: this.options.hideSuggestions });
      if (invalid.length > 0) return invalid.map((error) => refusal('GRAPHQL_VALIDATION_FAILED', error.message));
      this.documents.set(query, document);
    }
    const operationName = payload.operationName ?? undefined;
    const operation = getOperationAST(document, operationName);
    if (!operation) return [refusal('OPERATION_RESOLUTION_FAILURE', 'Say which operation to run with operationName')];
    const over = this.options.limits.refusal(schema, document, operation, variables as Record<string, unknown>);
    if (over) return [withoutHttp(over)];
    // Coerced here, as Apollo Server does for a request: what is sent on to a subgraph is what the schema
    // takes. Sent as given, a variable nested thousands deep failed in graphql-ws's serialisation, whose
    // rejected promise then ended the process at the upstream connection's next close.
    const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variables as Record<string, unknown>, {
      maxErrors: 10,
      hideSuggestions: this.options.hideSuggestions,
    });
    if (coerced.errors) return coerced.errors.map((error) => refusal(ErrorCode.BAD_USER_INPUT, error.message));
    if (operation.operation === OperationTypeNode.SUBSCRIPTION) {
      const sent = this.upstreamBytes(document, operationName, coerced.coerced);
      if (sent > this.options.maxUpstreamBytes) {
        return [
          refusal(
            ErrorCode.OPERATION_TOO_COMPLEX,
            `This subscription, as the gateway must send it on to a subgraph (each fragment written out where it is spread), is ${sent} bytes, over the ${this.options.maxUpstreamBytes} a subgraph takes: spread fewer fragments, or use shorter names`,
          ),
        ];
      }
    }
    return { document, operation, operationName, variables: coerced.coerced };
  }

  /** The size of what the subscription's plan sends to its subgraph, as JSON: the operation and the variables it uses (0 for one that cannot be planned, which fails when run). */
  private upstreamBytes(document: DocumentNode, operationName: string | undefined, variables: Record<string, unknown>): number {
    let primary;
    try {
      ({ primary } = this.options.planner.plan(document, operationName));
    } catch {
      return 0;
    }
    const used = Object.fromEntries((primary.variableUsages ?? []).filter((name) => name in variables).map((name) => [name, variables[name]]));
    // As it goes in the subscribe message: a quote or backslash in a string literal takes two bytes there.
    return Buffer.byteLength(JSON.stringify({ query: primary.operation, variables: used }));
  }

  /** Operations one connection may hold at once (SUBSCRIPTIONS_MAX_PER_CONNECTION). */
  get maxPerConnection(): number {
    return this.options.maxPerConnection;
  }

  /** Whether an admitted operation is a subscription (the rest run as single requests). */
  isSubscription(admitted: Admitted): boolean {
    return admitted.operation.operation === OperationTypeNode.SUBSCRIPTION;
  }

  /**
   * Takes a place for one more subscription of `subscriber` on a connection that has `onConnection` open;
   * returns how to give it back, or the refusal.
   */
  reserve(subscriber: Subscriber, onConnection: number): (() => void) | GraphQLError {
    const { maxPerConnection, maxPerUser } = this.options;
    if (onConnection >= maxPerConnection) {
      return refusal(ErrorCode.TOO_MANY_SUBSCRIPTIONS, `At most ${maxPerConnection} subscriptions per connection`, {
        limit: 'connection',
        max: maxPerConnection,
      });
    }
    return (
      this.subscriptions.take(subscriber.userId) ??
      refusal(ErrorCode.TOO_MANY_SUBSCRIPTIONS, `At most ${maxPerUser} subscriptions per user at once`, { limit: 'user', max: maxPerUser })
    );
  }

  /**
   * Takes a place for one more WebSocket connection of `subscriber` (idle ones cost the gateway memory and
   * a file descriptor each, whatever they subscribe to); returns how to give it back, or undefined when
   * the user holds as many as allowed.
   */
  connect(subscriber: Subscriber): (() => void) | undefined {
    return this.connections.take(subscriber.userId);
  }

  /** Runs a query or mutation sent over a streaming transport, as the HTTP endpoint would. */
  single(admitted: Admitted, context: GatewayContext): Promise<ExecutionResult> {
    return this.options.execute(
      { query: admitted.document, variables: admitted.variables, ...(admitted.operationName ? { operationName: admitted.operationName } : {}) },
      context,
    );
  }
}
