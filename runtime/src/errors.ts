// Errors: the codes a client can see, the errors that carry them, and what a client is shown of the rest.
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';

/**
 * A problem found at start that one line explains (a bad setting, an unreachable database): the entry
 * point prints its message alone, with no stack. `temporary` when something the process needs could not
 * be reached (its database down), rather than a setting to fix: starting again later may work, and the
 * entry point exits with `EXIT_UNAVAILABLE`.
 */
export class StartupError extends Error {
  override name = 'StartupError';
  readonly temporary: boolean;

  constructor(message: string, options: ErrorOptions & { temporary?: boolean } = {}) {
    super(message, options);
    this.temporary = options.temporary ?? false;
  }
}

/** The exit code of a process that could not reach what it needs at start (sysexits' EX_TEMPFAIL): `npm start` waits and starts it again. */
export const EXIT_UNAVAILABLE = 75;

/** A setting that cannot work, found at start; the message names the setting and what is wrong with it. */
export class ConfigError extends StartupError {
  override name = 'ConfigError';
}

/** Every error code a client can see, in `extensions.code`. */
export enum ErrorCode {
  UNAUTHENTICATED = 'UNAUTHENTICATED',
  FORBIDDEN = 'FORBIDDEN',
  BAD_USER_INPUT = 'BAD_USER_INPUT',
  NOT_FOUND = 'NOT_FOUND',
  CONFLICT = 'CONFLICT',
  IDEMPOTENCY_KEY_REUSED = 'IDEMPOTENCY_KEY_REUSED',
  PAYMENT_DECLINED = 'PAYMENT_DECLINED',
  RATE_LIMITED = 'RATE_LIMITED',
  /** The gateway refused an operation over its depth, alias, directive or cost limits. */
  OPERATION_TOO_COMPLEX = 'OPERATION_TOO_COMPLEX',
  /** The gateway could not reach a subgraph in time; `extensions.serviceName` names it. */
  SUBGRAPH_UNAVAILABLE = 'SUBGRAPH_UNAVAILABLE',
  /** A subscription over the limit per connection or per user; `extensions.limit` and `max` say which. */
  TOO_MANY_SUBSCRIPTIONS = 'TOO_MANY_SUBSCRIPTIONS',
  /** PERSISTED_DOCUMENTS=require: the document is not one the persisted query list holds (HTTP 400). */
  PERSISTED_QUERY_NOT_IN_LIST = 'PERSISTED_QUERY_NOT_IN_LIST',
  /** A request by persisted-query id the gateway does not know (the client may send the document with it). */
  PERSISTED_QUERY_NOT_FOUND = 'PERSISTED_QUERY_NOT_FOUND',
  INTERNAL_SERVER_ERROR = 'INTERNAL_SERVER_ERROR',
}

/** Codes produced by graphql-js and Apollo Server themselves for malformed requests; safe to show. */
const REQUEST_ERROR_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'BAD_REQUEST',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
]);

/** An error whose message and extensions are meant for the client. */
export class AppError extends GraphQLError {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}) {
    super(message, { extensions: { ...extensions, code } });
    this.code = code;
  }
}

/**
 * At most `max` characters of a client's value, for a message to quote, "…" when cut: counted in code
 * points, so that an emoji is never cut in half (`slice` counts UTF-16 units, and left a lone surrogate in
 * answers, text the API itself refuses and strict JSON decoders reject).
 */
export function excerpt(value: string, max: number): string {
  if (value.length <= max) return value;
  let end = 0;
  let count = 0;
  for (const character of value) {
    if (count === max) return `${value.slice(0, end)}…`;
    end += character.length;
    count += 1;
  }
  return value;
}

/** Bad input, naming the field (a path such as `input.email`) and what was wrong with it. */
export function badUserInput(field: string, message: string): AppError {
  return new AppError(ErrorCode.BAD_USER_INPUT, `${field}: ${message}`, { field });
}

export function unauthenticated(message = 'Authentication required: send a valid access token as "Authorization: Bearer <token>"'): AppError {
  return new AppError(ErrorCode.UNAUTHENTICATED, message);
}

export function forbidden(message: string): AppError {
  return new AppError(ErrorCode.FORBIDDEN, message);
}

export function notFound(message: string): AppError {
  return new AppError(ErrorCode.NOT_FOUND, message);
}

export function conflict(message: string, extensions: Record<string, unknown> = {}): AppError {
  return new AppError(ErrorCode.CONFLICT, message, extensions);
}

export function rateLimited(retryAfterSeconds: number, message = 'Too many attempts; try again later'): AppError {
  return new AppError(ErrorCode.RATE_LIMITED, `${message} (retry after ${retryAfterSeconds} s)`, { retryAfterSeconds });
}

/**
 * True for errors whose message was written for the client: ours, the request's own mistakes, and
 * (in the gateway) errors a subgraph answered with, which that subgraph has already masked.
 */
export function isClientSafe(error: unknown): boolean {
  const original = unwrapResolverError(error);
  if (original instanceof AppError) return true;
  // A subgraph's error reaches the gateway as a GraphQLError whose original is plain JSON.
  const graphQLError = original instanceof GraphQLError ? original : error instanceof GraphQLError ? error : null;
  const code = graphQLError?.extensions?.code;
  // Own keys only: `in` also found `constructor` and `toString` on the enum's prototype chain.
  return typeof code === 'string' && (REQUEST_ERROR_CODES.has(code) || Object.hasOwn(ErrorCode, code));
}

/**
 * graphql-js reports a variable that fails its type (a bad Decimal, an unknown enum value) only in the
 * message (`... at "input.amount"; ...`); the field is copied to `extensions.field` like our own errors.
 */
function withField(formatted: GraphQLFormattedError): GraphQLFormattedError {
  if (formatted.extensions?.code !== ErrorCode.BAD_USER_INPUT || formatted.extensions.field) return formatted;
  const variable =
    /^Variable "\$(\w+)" got invalid value .*? at "([\w.[\]]+)"/.exec(formatted.message) ?? /^Variable "\$(\w+)" got invalid value/.exec(formatted.message);
  if (!variable) return formatted;
  return { ...formatted, extensions: { ...formatted.extensions, field: variable[2] ?? variable[1] } };
}

/**
 * Turns an error a process recognises (its database unreachable, say) into the one its clients are
 * told; undefined for any other.
 */
export type ErrorTranslator = (error: unknown) => AppError | undefined;

/**
 * graphql-js's suggestion at the end of a message ("Did you mean the enum value \"ADMIN\"?"), as Apollo's
 * DisableSuggestions plugin matches it.
 */
const SUGGESTION = / ?Did you mean(.+?)\?$/;

/**
 * Apollo's `formatError`: an error `translate` recognises is answered as what it translates to, with no
 * stack; client-safe errors pass with their code; anything else becomes a generic
 * INTERNAL_SERVER_ERROR when `mask` is set (production), with no message details or stack. In
 * production no message suggests a name of the schema: Apollo's `hideSchemaDetailsFromClientErrors`
 * takes suggestions out of validation errors only, and a variable's value, checked apart (by Apollo
 * Gateway, without graphql-js's `hideSuggestions`), named the enum value or input field it was near.
 */
export function formatErrorFor(mask: boolean, translate?: ErrorTranslator) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const known = translate?.(error);
    if (known) {
      return {
        message: known.message,
        ...(formatted.locations ? { locations: formatted.locations } : {}),
        ...(formatted.path ? { path: formatted.path } : {}),
        extensions: { ...known.extensions },
      };
    }
    const masked = (serviceName?: unknown): GraphQLFormattedError => ({
      message: 'Internal server error',
      ...(formatted.locations ? { locations: formatted.locations } : {}),
      ...(formatted.path ? { path: formatted.path } : {}),
      extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR, ...(typeof serviceName === 'string' ? { serviceName } : {}) },
    });
    if (isClientSafe(error)) {
      const named = withField(formatted);
      if (!mask) return named;
      // A subgraph's internal error is masked there, in production; one that was not (a subgraph left in
      // development behind a production gateway) would otherwise pass its message and details on: Prisma's
      // invocation, SQL, a connection string.
      if (named.extensions?.code === ErrorCode.INTERNAL_SERVER_ERROR && !(unwrapResolverError(error) instanceof AppError)) {
        return masked(named.extensions.serviceName);
      }
      const { stacktrace: _stacktrace, ...extensions } = named.extensions ?? {};
      return { ...named, message: named.message.replace(SUGGESTION, ''), extensions };
    }
    if (!mask) return { ...formatted, extensions: { ...formatted.extensions, code: ErrorCode.INTERNAL_SERVER_ERROR } };
    // Apollo Gateway names the subgraph of an error it could not place (one without a code, or an answer of
    // the wrong shape: DOWNSTREAM_SERVICE_ERROR): the one thing of it a client may be told.
    return masked(formatted.extensions?.serviceName);
  };
}
