// The one rule for text a client sends a subgraph: every string in an operation's arguments is checked before anything runs.
import type { ApolloServerPlugin } from '@apollo/server';
import {
  GraphQLError,
  GraphQLScalarType,
  Kind,
  getNamedType,
  isInterfaceType,
  isObjectType,
  type DirectiveNode,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';
import { z } from 'zod';
import { AppError, ErrorCode, badUserInput } from '@fedstack/runtime';
import { isStorableInstant } from './scalars';

/** The length of any text argument a limit does not name. */
export const DEFAULT_TEXT_LIMIT = 1000;

/** Length limits by field (`Type.field`) and argument path (`input.description`). */
export type TextLimits = Readonly<Record<string, Readonly<Record<string, number>>>>;

/** What is wrong with `value` as text, or undefined when every service can store and compare it. */
function problemWith(value: string, max: number): string | undefined {
  if (value.includes('\u0000')) return 'must not contain NUL characters (U+0000)';
  // In a Unicode-aware regex a surrogate pair is one code point, so only an unpaired half matches.
  if (/\p{Surrogate}/u.test(value)) return 'must be well-formed Unicode (it holds an unpaired surrogate)';
  // Counted in code points, as the limits the schema documents are; never more of them than UTF-16 units.
  if (value.length > max && [...value].length > max) return `must be at most ${max} characters (got ${[...value].length})`;
  return undefined;
}

/**
 * Text every service can store and compare: no NUL (PostgreSQL's text cannot hold it), no unpaired
 * UTF-16 surrogate (it is not text at all), at most `max` characters. Throws BAD_USER_INPUT naming
 * `field`; nothing has been read or written yet.
 */
export function checkText(value: string, field: string, max = DEFAULT_TEXT_LIMIT): void {
  const problem = problemWith(value, max);
  if (problem) throw badUserInput(field, problem);
}

/** Whether every string in `value`, keys too, at any depth, is text every service can store (JSON bound for jsonb). */
function storableJson(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return problemWith(value, Infinity) === undefined;
  if (depth > MAX_ARGUMENT_DEPTH) return false;
  if (Array.isArray(value)) return value.every((item) => storableJson(item, depth + 1));
  if (value !== null && typeof value === 'object') return Object.entries(value).every(([key, item]) => storableJson(key) && storableJson(item, depth + 1));
  return true;
}

/**
 * The same rule for what another service sends (an internal command, an event), as zod schemas: what
 * PostgreSQL would refuse is refused as 400 instead of failing as a 500 (which an outbox retries for a
 * day before it parks it): text with a NUL or an unpaired surrogate, JSON holding such text, an instant
 * outside years 1 to 9999.
 */
export const storable = {
  text: (schema = z.string()) =>
    schema.refine((value) => problemWith(value, Infinity) === undefined, 'must be text PostgreSQL can store (no NUL, no unpaired surrogate)'),
  json: <T extends z.ZodType>(schema: T) => schema.refine(storableJson, 'must hold only text PostgreSQL can store (no NUL, no unpaired surrogate)'),
  instant: () => z.iso.datetime().refine((value) => isStorableInstant(new Date(value)), 'must be an instant in years 1 to 9999'),
};

/**
 * How deep lists and objects may nest in an argument. Far past any input this schema takes; JSON nested
 * thousands deep (a 10 kB variable) overflowed the stack here, which ended the gateway's shared
 * subscription connection for every subscriber on it.
 */
export const MAX_ARGUMENT_DEPTH = 64;

/** Where a value sits: its path as errors name it (`items[0].name`), as limits name it (`items.name`), and how deep. */
interface Place {
  path: string;
  limitPath: string;
  depth: number;
}
const deeper = (place: Place, path: string, limitPath: string): Place => {
  if (place.depth >= MAX_ARGUMENT_DEPTH) throw badUserInput(place.path, `must not nest lists and objects more than ${MAX_ARGUMENT_DEPTH} deep`);
  return { path, limitPath, depth: place.depth + 1 };
};
const inner = (place: Place, key: string): Place => deeper(place, `${place.path}.${key}`, `${place.limitPath}.${key}`);
const item = (place: Place, index: number): Place => deeper(place, `${place.path}[${index}]`, place.limitPath);

/**
 * Checks every string in the arguments of an operation as the client sent it, before variables are
 * coerced and before any resolver runs: literals in the document, variables given whole or inside a
 * literal object or list (or their defaults), strings inside custom scalars (an e-mail, a JSON value,
 * `_entities`' representations), arguments of fields in fragments and of directives. Checking coerced
 * arguments in each resolver, as this once did, missed input objects written in the document (graphql-js
 * builds them without a prototype), `_entities`, which no resolver map holds, and custom scalars, which
 * fail before any resolver runs.
 */
export function checkOperationText(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Readonly<Record<string, unknown>>,
  limits: TextLimits = {},
): void {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  const defaults = new Map(operation.variableDefinitions?.map((definition) => [definition.variable.name.value, definition.defaultValue]));

  const raw = (value: unknown, place: Place, max: (limitPath: string) => number): void => {
    if (typeof value === 'string') checkText(value, place.path, max(place.limitPath));
    else if (Array.isArray(value)) value.forEach((entry, index) => raw(entry, item(place, index), max));
    else if (value !== null && typeof value === 'object') for (const [key, entry] of Object.entries(value)) raw(entry, inner(place, key), max);
  };
  const literal = (node: ValueNode, place: Place, max: (limitPath: string) => number): void => {
    if (node.kind === Kind.STRING) checkText(node.value, place.path, max(place.limitPath));
    else if (node.kind === Kind.LIST) node.values.forEach((entry, index) => literal(entry, item(place, index), max));
    else if (node.kind === Kind.OBJECT) for (const field of node.fields) literal(field.value, inner(place, field.name.value), max);
    else if (node.kind === Kind.VARIABLE) {
      const name = node.name.value;
      if (Object.hasOwn(variables, name)) raw(variables[name], place, max);
      else {
        const fallback = defaults.get(name);
        if (fallback) literal(fallback, place, max);
      }
    }
  };
  const argumentsOf = (node: { arguments?: readonly { name: { value: string }; value: ValueNode }[] }, fieldLimits: Readonly<Record<string, number>> = {}) => {
    const max = (limitPath: string) => fieldLimits[limitPath] ?? DEFAULT_TEXT_LIMIT;
    for (const argument of node.arguments ?? []) literal(argument.value, { path: argument.name.value, limitPath: argument.name.value, depth: 0 }, max);
  };
  const directives = (nodes: readonly DirectiveNode[] | undefined) => nodes?.forEach((directive) => argumentsOf(directive));

  // Each fragment is checked once, however often it is spread: its arguments do not depend on where.
  const seen = new Set<string>();
  const selections = (set: SelectionSetNode, parent: GraphQLNamedType | undefined): void => {
    for (const selection of set.selections) {
      directives(selection.directives);
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        argumentsOf(selection, parent ? limits[`${parent.name}.${name}`] : undefined);
        const definition = parent && (isObjectType(parent) || isInterfaceType(parent)) ? parent.getFields()[name] : undefined;
        if (selection.selectionSet) selections(selection.selectionSet, definition && getNamedType(definition.type));
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        selections(selection.selectionSet, selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parent);
      } else if (!seen.has(selection.name.value)) {
        seen.add(selection.name.value);
        const fragment = fragments.get(selection.name.value);
        if (fragment) {
          directives(fragment.directives);
          selections(fragment.selectionSet, schema.getType(fragment.typeCondition.name.value));
        }
      }
    }
  };
  directives(operation.directives);
  selections(operation.selectionSet, schema.getRootType(operation.operation) ?? undefined);
}

/**
 * The rule as a plugin of the subgraph's server: an operation with text no service can store, or text
 * over its limit (`limits`, else DEFAULT_TEXT_LIMIT), in any argument is refused whole, 400
 * BAD_USER_INPUT naming the argument (`extensions.field`), before anything runs.
 */
export function textRulePlugin(limits: TextLimits = {}): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ schema, document, operation, request }) {
          if (!operation) return;
          try {
            checkOperationText(schema, document, operation, request.variables ?? {}, limits);
          } catch (error) {
            if (!(error instanceof AppError) || error.code !== ErrorCode.BAD_USER_INPUT) throw error;
            throw new GraphQLError(error.message, { extensions: { ...error.extensions, http: { status: 400 } } });
          }
        },
      };
    },
  };
}

/** A custom scalar's refusal of a literal written in the query text (see `refusedLiteral`). */
class LiteralRefused extends Error {}

/**
 * A literal a custom scalar refused, as the bad input it is: written in the query text, an e-mail that is
 * none or a date in year 0 failed the document's validation, GRAPHQL_VALIDATION_FAILED, where the same
 * value in a variable was BAD_USER_INPUT. graphql-js makes a scalar's error that is no GraphQLError the
 * cause of its own ("Expected value of type …, found …; …"), which this recognises.
 */
export function refusedLiteral(error: unknown): AppError | undefined {
  return error instanceof GraphQLError && error.originalError instanceof LiteralRefused ? new AppError(ErrorCode.BAD_USER_INPUT, error.message) : undefined;
}

/**
 * A resolver map whose custom scalars leave text the rule refuses to the rule: written in the document,
 * an e-mail with a NUL in it would otherwise fail the scalar's own check during validation, which runs
 * before the plugin and answers GRAPHQL_VALIDATION_FAILED naming nothing. The value never reaches a
 * resolver: the plugin refuses the operation before it runs. A literal the scalar refuses for any other
 * reason is refused as a LiteralRefused, for `refusedLiteral`.
 */
export function withTextRule<R extends object>(resolvers: R): R {
  return Object.fromEntries(
    Object.entries(resolvers).map(([name, value]) => {
      if (!(value instanceof GraphQLScalarType)) return [name, value as unknown];
      const scalar = value as GraphQLScalarType;
      return [
        name,
        new GraphQLScalarType({
          ...scalar.toConfig(),
          parseLiteral: (node, variables) => {
            if (node.kind === Kind.STRING && problemWith(node.value, DEFAULT_TEXT_LIMIT)) return node.value;
            try {
              return scalar.parseLiteral(node, variables);
            } catch (error) {
              throw new LiteralRefused(error instanceof Error ? error.message : String(error));
            }
          },
        }),
      ];
    }),
  ) as R;
}
