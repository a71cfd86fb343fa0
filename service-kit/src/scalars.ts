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

const DECIMAL = /^-?(0|[1-9]\d*)(\.\d+)?$/;
const MAX_DECIMAL_LENGTH = 40;

function parseDecimal(value: string): string {
  if (value.length > MAX_DECIMAL_LENGTH || !DECIMAL.test(value)) {
    throw new GraphQLError(
      `Decimal must be a plain decimal number such as "12.50", at most ${MAX_DECIMAL_LENGTH} characters (got "${value.slice(0, MAX_DECIMAL_LENGTH)}")`,
    );
  }
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

/** Resolvers for the scalars every subgraph's schema may declare. */
export const scalarResolvers = {
  DateTime: DateTimeResolver,
  EmailAddress: EmailAddressResolver,
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
