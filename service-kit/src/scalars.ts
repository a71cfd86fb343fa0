// The scalars a subgraph's schema may declare, with this API's own rules for Decimal, e-mail addresses and date-times.
import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';
import {
  CurrencyResolver,
  DateTimeResolver,
  EmailAddressResolver,
  JSONResolver,
  LocaleResolver,
  TimeZoneResolver,
  URLResolver,
  UUIDResolver,
} from 'graphql-scalars';
import { decimalProblem } from './money';

/** The Decimal scalar's text, checked by the one grammar of decimals (money.ts). */
function parseDecimal(value: string): string {
  const problem = decimalProblem(value);
  if (problem) throw new GraphQLError(`Decimal ${problem}`);
  return value;
}

/**
 * Exact decimal numbers (money). Output is always a string; input is a string in variables, or a
 * numeric literal in the query text, whose exact digits are kept. A JSON number in variables is
 * refused because it was already rounded to a binary float before we could see it.
 */
export const DecimalScalar = new GraphQLScalarType<string, string>({
  name: 'Decimal',
  description: 'An exact decimal number, as a string: "12.50". Never a float.',
  serialize(value) {
    if (typeof value === 'string') return value;
    if (value !== null && typeof value === 'object' && typeof (value as { toFixed?: unknown }).toFixed === 'function') {
      return (value as { toString(): string }).toString();
    }
    throw new GraphQLError(`Decimal cannot represent ${typeof value} values`);
  },
  parseValue(value) {
    if (typeof value !== 'string') {
      throw new GraphQLError('Decimal values must be sent as strings such as "12.50", never as JSON numbers');
    }
    return parseDecimal(value);
  },
  parseLiteral(ast) {
    if (ast.kind === Kind.STRING || ast.kind === Kind.INT || ast.kind === Kind.FLOAT) return parseDecimal(ast.value);
    throw new GraphQLError('Decimal literals must be numbers or strings');
  },
});

/** `scalar` with one more rule on every value parsed from a request, in variables or in the query text. */
function refined<T>(scalar: GraphQLScalarType<T, unknown>, check: (value: T) => string | undefined): GraphQLScalarType<T, unknown> {
  const enforce = (value: T): T => {
    const problem = check(value);
    if (problem) throw new GraphQLError(`${scalar.name} ${problem}`);
    return value;
  };
  return new GraphQLScalarType<T, unknown>({
    ...scalar.toConfig(),
    parseValue: (value) => enforce(scalar.parseValue(value)),
    parseLiteral: (ast, variables) => enforce(scalar.parseLiteral(ast, variables)),
  });
}

/** The instants every service can store and compare: PostgreSQL's, and RFC 3339's four-digit years. */
export function isStorableInstant(date: Date): boolean {
  const year = date.getUTCFullYear();
  return !Number.isNaN(date.getTime()) && year >= 1 && year <= 9999;
}

/** An e-mail address, at most 254 characters (RFC 5321's limit, which the unique index can hold). */
const EmailAddressScalar = refined<string>(EmailAddressResolver, (value) =>
  value.length > 254 ? `must be at most 254 characters (got ${value.length})` : undefined,
);

/** A date-time with a year from 1 to 9999. */
const DateTimeScalar = refined<Date>(DateTimeResolver, (value) =>
  isStorableInstant(value) ? undefined : `must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z (got the year ${value.getUTCFullYear()})`,
);

/** Resolvers for the scalars every subgraph's schema may declare. */
export const scalarResolvers = {
  DateTime: DateTimeScalar,
  EmailAddress: EmailAddressScalar,
  UUID: UUIDResolver,
  URL: URLResolver,
  JSON: JSONResolver,
  Locale: LocaleResolver,
  TimeZone: TimeZoneResolver,
  Currency: CurrencyResolver,
  Decimal: DecimalScalar,
};

/** The resolvers for just the scalars a schema declares (buildSubgraphSchema rejects unknown ones). */
export function scalarsFor(...names: (keyof typeof scalarResolvers)[]): Partial<typeof scalarResolvers> {
  return Object.fromEntries(names.map((name) => [name, scalarResolvers[name]]));
}
