// Money written in the query text: a Decimal literal the query planner would not pass on exactly is refused, never rounded.
import { GraphQLError, Kind, getNamedType, type ValidationRule } from 'graphql';
import { ErrorCode, excerpt } from '@fedstack/runtime';

/**
 * The scalars whose values must reach a subgraph digit for digit. Apollo's query planner reads a custom
 * scalar's numeric literal as a JavaScript number and writes that number into the subgraph's operation:
 * `9.999999999999999999` reached payments as `10`, `1e400` as an internal error, `0.0000001` as `1e-7`.
 */
const EXACT_SCALARS = new Set(['Decimal']);

/**
 * A decimal's value as one canonical text, its significant digits and a power of ten ("12.50" and "12.5"
 * alike: "125e-1"), or undefined for what is not a decimal without an exponent. Trimmed by hand: a regular
 * expression for trailing zeros takes quadratic time on a literal of many zeros before a last digit.
 */
function decimalValue(text: string): string | undefined {
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) return undefined;
  const [, sign = '', whole = '', fraction = ''] = match;
  const digits = whole + fraction;
  let end = digits.length;
  while (end > 0 && digits[end - 1] === '0') end -= 1;
  let start = 0;
  while (start < end && digits[start] === '0') start += 1;
  return start === end ? '0' : `${sign}${digits.slice(start, end)}e${digits.length - end - fraction.length}`;
}

/**
 * Whether the planner passes `literal` on as the same number, both written without an exponent (which
 * the subgraphs' grammar of decimals refuses, naming a value the client never wrote).
 */
export function carriedExactly(literal: string): boolean {
  const written = decimalValue(literal);
  return written !== undefined && written === decimalValue(String(Number(literal)));
}

/**
 * A validation rule reporting to `refuse` each numeric literal of an exact scalar (in an argument, a
 * list, an input object or a variable's default) that the planner would not pass on as written: 400
 * BAD_USER_INPUT naming the literal and how to send it instead.
 */
export function exactDecimalLiterals(refuse: (error: GraphQLError) => void): ValidationRule {
  return (context) => {
    const check = (node: { value: string }) => {
      const type = getNamedType(context.getInputType());
      if (!type || !EXACT_SCALARS.has(type.name) || carriedExactly(node.value)) return;
      const shown = excerpt(node.value, 40);
      refuse(
        new GraphQLError(
          `${type.name} literal ${shown} cannot be passed on exactly as a number: write it as a string ("${shown}") or send it in a variable, with no exponent`,
          { extensions: { code: ErrorCode.BAD_USER_INPUT, http: { status: 400 } } },
        ),
      );
    };
    return { [Kind.INT]: check, [Kind.FLOAT]: check };
  };
}
