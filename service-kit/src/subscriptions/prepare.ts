// A subscribe message made ready to run, or refused with the reason: the checks an HTTP request gets before it runs.
import {
  GraphQLError,
  Kind,
  locatedError,
  OperationTypeNode,
  getOperationAST,
  getVariableValues,
  parse,
  type DocumentNode,
  type ExecutionResult,
  type FieldNode,
  type GraphQLSchema,
} from 'graphql';
import type { SubscribePayload } from 'graphql-ws';
import { AppError, ErrorCode, validateSubscriptionDocument, type Logger } from '@fedstack/runtime';
import { checkOperationText, type TextLimits } from '../text';

/** The client's headers that a subscription carries in `extensions.headers`, as the gateway sends them with a request. */
export interface ClientHeaders {
  authorization: string | undefined;
  requestId: string | undefined;
  forwardedFor: string | undefined;
  userAgent: string | undefined;
  /** The gateway's span for the subscription's start (W3C trace context), which the subgraph's continues. */
  traceparent: string | undefined;
}

export interface PreparedSubscription {
  document: DocumentNode;
  operationName: string | undefined;
  variables: Record<string, unknown>;
  /** The subscribed root field, where a final error is placed. */
  field: FieldNode | undefined;
  headers: ClientHeaders;
}

/** Refused before anything ran: the one result the client gets, then the end. */
export interface Refusal {
  refusal: ExecutionResult;
}

const refuse = (...errors: GraphQLError[]): Refusal => ({ refusal: { errors } });
/** No operation to run, or one not served here: a client error, as the HTTP endpoint answers it. */
const unresolved = (message: string) => new GraphQLError(message, { extensions: { code: 'OPERATION_RESOLUTION_FAILURE' } });
const withCode = (error: GraphQLError, code: string) =>
  new GraphQLError(error.message, { nodes: error.nodes, source: error.source, positions: error.positions, extensions: { ...error.extensions, code } });

/** The headers of `extensions.headers` a subgraph reads, by lower-case name; anything not a string is ignored. */
export function clientHeaders(extensions: SubscribePayload['extensions']): ClientHeaders {
  const given = extensions?.headers;
  const headers = new Map<string, string>();
  if (given !== null && typeof given === 'object') {
    for (const [name, value] of Object.entries(given)) if (typeof value === 'string') headers.set(name.toLowerCase(), value);
  }
  return {
    authorization: headers.get('authorization'),
    requestId: headers.get('x-request-id'),
    forwardedFor: headers.get('x-forwarded-for'),
    userAgent: headers.get('user-agent'),
    traceparent: headers.get('traceparent'),
  };
}

/**
 * Parses, validates and checks one subscribe message as the HTTP endpoint checks a request before it
 * runs: the document (GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED), the operation to run, which must
 * be a subscription (queries and mutations go over HTTP: OPERATION_RESOLUTION_FAILURE), the text rule
 * on every string argument (text.ts, with the subgraph's limits) and the variables' types
 * (BAD_USER_INPUT).
 */
export function prepareSubscription(schema: GraphQLSchema, payload: SubscribePayload, textLimits: TextLimits | undefined): PreparedSubscription | Refusal {
  let document: DocumentNode;
  try {
    document = parse(payload.query);
  } catch (error) {
    if (!(error instanceof GraphQLError)) throw error;
    return refuse(withCode(error, 'GRAPHQL_PARSE_FAILED'));
  }
  const invalid = validateSubscriptionDocument(schema, document);
  if (invalid.length > 0) return refuse(...invalid.map((error) => withCode(error, 'GRAPHQL_VALIDATION_FAILED')));
  const operationName = payload.operationName ?? undefined;
  const operation = getOperationAST(document, operationName);
  if (!operation) {
    return refuse(
      unresolved(operationName ? `Unknown operation named "${operationName}"` : 'The document has several operations: say which to run with operationName'),
    );
  }
  if (operation.operation !== OperationTypeNode.SUBSCRIPTION) {
    return refuse(unresolved(`Only subscriptions are served over WebSocket here; send a ${operation.operation} over HTTP`));
  }
  const variables = payload.variables ?? {};
  try {
    checkOperationText(schema, document, operation, variables, textLimits);
  } catch (error) {
    if (error instanceof AppError) return refuse(error);
    throw error;
  }
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variables, { maxErrors: 50 });
  if (coerced.errors) return refuse(...coerced.errors.map((error) => withCode(error, ErrorCode.BAD_USER_INPUT)));
  const [first] = operation.selectionSet.selections;
  return {
    document,
    operationName,
    variables,
    field: first?.kind === Kind.FIELD ? first : undefined,
    headers: clientHeaders(payload.extensions),
  };
}

/** The refusal of a subscription past the `max` one connection may hold. */
export function tooManyOnConnection(max: number): Refusal {
  return { refusal: { errors: [new AppError(ErrorCode.TOO_MANY_SUBSCRIPTIONS, `At most ${max} subscriptions per connection`, { limit: 'connection', max })] } };
}

/**
 * The subscription `prepare` makes, or, when it throws, a refusal of that subscription alone: thrown to
 * graphql-ws, it closed the whole connection (4500), the gateway's shared one, with every subscriber's.
 */
export function refusedIfThrown(logger: Logger, prepare: () => PreparedSubscription | Refusal): PreparedSubscription | Refusal {
  try {
    return prepare();
  } catch (error) {
    logger.error({ err: error }, 'subscription could not be prepared');
    return { refusal: { errors: [locatedError(error, [])] } };
  }
}
