import { badUserInput } from '@fedstack/runtime';

/** The length of any text argument a limit does not name. */
export const DEFAULT_TEXT_LIMIT = 1000;

/**
 * Text every service can store and compare: no NUL (PostgreSQL's text cannot hold it), no unpaired
 * UTF-16 surrogate (it is not text at all), at most `max` characters. Throws BAD_USER_INPUT naming
 * `field`; nothing has been read or written yet.
 */
export function checkText(value: string, field: string, max = DEFAULT_TEXT_LIMIT): void {
  if (value.includes('\u0000')) throw badUserInput(field, 'must not contain NUL characters (U+0000)');
  // In a Unicode-aware regex a surrogate pair is one code point, so only an unpaired half matches.
  if (/\p{Surrogate}/u.test(value)) throw badUserInput(field, 'must be well-formed Unicode (it holds an unpaired surrogate)');
  // Counted in code points, as the limits the schema documents are, but a string far over cannot be one.
  if (value.length > max * 2 || [...value].length > max) throw badUserInput(field, `must be at most ${max} characters (got ${[...value].length})`);
}

/**
 * Checks every string in a field's arguments, however deep in input objects and lists, against
 * `checkText`, with the limit `limits` gives its path (`input.description`) or the default.
 */
export function checkArguments(args: Record<string, unknown>, limits: Readonly<Record<string, number>> = {}): void {
  const visit = (value: unknown, path: string, limitPath: string) => {
    if (typeof value === 'string') checkText(value, path, limits[limitPath] ?? DEFAULT_TEXT_LIMIT);
    else if (Array.isArray(value)) value.forEach((item, index) => visit(item, `${path}[${index}]`, limitPath));
    else if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
      for (const [key, inner] of Object.entries(value)) visit(inner, path ? `${path}.${key}` : key, limitPath ? `${limitPath}.${key}` : key);
    }
  };
  visit(args, '', '');
}

type FieldResolver = (parent: unknown, args: Record<string, unknown>, context: unknown, info: unknown) => unknown;

/**
 * A resolver map in which every field checks its text arguments first (`checkArguments`), with the
 * limits given per field (`{ 'Mutation.createPayment': { 'input.description': 500 } }`). One rule for
 * every string argument of every subgraph, so a new argument is covered without anyone remembering to.
 */
export function withTextChecks<R extends object>(resolvers: R, limits: Readonly<Record<string, Readonly<Record<string, number>>>> = {}): R {
  return Object.fromEntries(
    Object.entries(resolvers).map(([typeName, fields]) => {
      // Scalars (GraphQLScalarType instances) pass as they are; plain objects are a type's field resolvers.
      if (fields === null || typeof fields !== 'object' || Object.getPrototypeOf(fields) !== Object.prototype) return [typeName, fields as unknown];
      const wrapped = Object.fromEntries(
        Object.entries(fields as Record<string, unknown>).map(([fieldName, resolve]) => {
          if (typeof resolve !== 'function' || fieldName.startsWith('__')) return [fieldName, resolve];
          const fieldLimits = limits[`${typeName}.${fieldName}`] ?? {};
          const checked: FieldResolver = (parent, args, context, info) => {
            checkArguments(args, fieldLimits);
            return (resolve as FieldResolver)(parent, args, context, info);
          };
          return [fieldName, checked];
        }),
      );
      return [typeName, wrapped];
    }),
  ) as R;
}
