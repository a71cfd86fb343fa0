// Every way a client can put a string into an argument of a schema: the cases test/hostile-strings.test.ts sends.
import { randomUUID } from 'node:crypto';
import {
  getNamedType,
  getNullableType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLSchema,
} from 'graphql';

/**
 * How the string reaches the argument: the whole argument as a variable; everything written in the
 * document; or, where the string sits inside an input object or list, a variable of its own there.
 */
export type Form = 'variables' | 'literal' | 'nested variable';

export interface Case {
  label: string;
  form: Form;
  query: string;
  variables: Record<string, unknown>;
  /** The string tried. */
  value: string;
  /** The argument path the string is at, as errors name it (`input.email`, `representations[0].id`). */
  field: string;
}

/** Scalars a client cannot send a string in; every other one can carry text (a custom scalar's too). */
const NOT_TEXT = new Set(['Int', 'Float', 'Boolean']);
/** Scalars that take any JSON: the string goes inside an object, at `id`. */
const JSON_LIKE = new Set(['JSON', '_Any']);
/** Where the hostile string goes in a value tree, until each form puts its own thing there. */
const HOSTILE = Symbol('hostile');

/** A place for a string within one argument: the steps to it (field names, 0 for a list's item) and the type there. */
interface Slot {
  steps: (string | 0)[];
  /** The type at the slot, for a variable of its own; undefined inside a JSON value, where none can go. */
  type: GraphQLInputType | undefined;
}

function slotsOf(type: GraphQLInputType, seen: ReadonlySet<string> = new Set()): Slot[] {
  const here = getNullableType(type);
  if (isListType(here)) return slotsOf(here.ofType, seen).map((slot) => ({ ...slot, steps: [0, ...slot.steps] }));
  if (isInputObjectType(here)) {
    if (seen.has(here.name)) return [];
    return Object.values(here.getFields()).flatMap((field) =>
      slotsOf(field.type, new Set([...seen, here.name])).map((slot) => ({
        steps: [field.name, ...slot.steps],
        type: slot.steps.length === 0 ? field.type : slot.type,
      })),
    );
  }
  if (isScalarType(here) && JSON_LIKE.has(here.name)) return [{ steps: ['id'], type: undefined }];
  if (isScalarType(here) && !NOT_TEXT.has(here.name)) return [{ steps: [], type }];
  return [];
}

const pathOf = (argument: string, steps: Slot['steps']) => steps.reduce<string>((path, step) => (step === 0 ? `${path}[0]` : `${path}.${step}`), argument);

/** A valid value of `type`, with HOSTILE at `steps` when given, so that only that string is hostile. */
function valueOf(type: GraphQLInputType, unique: string, steps?: Slot['steps']): unknown {
  if (steps?.length === 0 && !(isScalarType(getNamedType(type)) && JSON_LIKE.has(getNamedType(type).name))) return HOSTILE;
  const here = getNullableType(type);
  if (isListType(here)) return [valueOf(here.ofType, unique, steps?.slice(1))];
  if (isEnumType(here)) return here.getValues()[0]?.value;
  if (isInputObjectType(here)) {
    const fields = Object.values(here.getFields()).filter((field) => isNonNullType(field.type) || field.name === steps?.[0]);
    return Object.fromEntries(fields.map((field) => [field.name, valueOf(field.type, unique, field.name === steps?.[0] ? steps.slice(1) : undefined)]));
  }
  const samples: Record<string, unknown> = {
    ID: randomUUID(),
    String: `sample-${unique}`,
    Int: 1,
    Float: 1,
    Boolean: true,
    Decimal: '1.00',
    Currency: 'EUR',
    EmailAddress: `hostile-${unique}@example.com`,
    DateTime: '2026-01-01T00:00:00Z',
    UUID: randomUUID(),
    URL: 'https://example.com/a.png',
    Locale: 'en-GB',
    TimeZone: 'Europe/Paris',
    JSON: {},
    _Any: { __typename: 'User', id: randomUUID() },
  };
  const name = getNamedType(type).name;
  if (!(name in samples)) throw new Error(`no sample value for the scalar ${name}: add one`);
  const sample = samples[name];
  return steps ? { ...(sample as object), id: HOSTILE } : sample;
}

/** The value as variables carry it, the hostile string in its place. */
function asJson(value: unknown, hostile: string): unknown {
  if (value === HOSTILE) return hostile;
  if (Array.isArray(value)) return value.map((entry) => asJson(entry, hostile));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, asJson(entry, hostile)]));
  return value;
}

/** The value written in the document (a GraphQL string is written as JSON writes it), `hostile` put in as it is. */
function asLiteral(value: unknown, type: GraphQLInputType | undefined, hostile: string): string {
  if (value === HOSTILE) return hostile;
  const here = type && getNullableType(type);
  if (Array.isArray(value)) return `[${value.map((entry) => asLiteral(entry, here && isListType(here) ? here.ofType : undefined, hostile)).join(', ')}]`;
  if (here && isEnumType(here)) return String(value);
  if (value !== null && typeof value === 'object') {
    const fields = here && isInputObjectType(here) ? here.getFields() : {};
    return `{ ${Object.entries(value)
      .map(([key, entry]) => `${key}: ${asLiteral(entry, fields[key]?.type, hostile)}`)
      .join(', ')} }`;
  }
  return JSON.stringify(value);
}

/** The smallest selection of a field's result: its __typename. */
function selection(field: GraphQLField<unknown, unknown>): string {
  const type = getNamedType(field.type);
  return isScalarType(type) || isEnumType(type) ? '' : ' { __typename }';
}

/** Cases for one field with arguments, reached by `wrap` (a root field, a field of `me`, of an entity). */
export function casesFor(
  owner: string,
  field: GraphQLField<unknown, unknown>,
  wrap: (inner: string) => string,
  operation: 'query' | 'mutation',
  values: readonly string[],
): Case[] {
  const cases: Case[] = [];
  for (const argument of field.args as GraphQLArgument[]) {
    for (const slot of slotsOf(argument.type)) {
      const path = pathOf(argument.name, slot.steps);
      const forms: Form[] = ['variables', 'literal', ...(slot.steps.length > 0 && slot.type ? (['nested variable'] as const) : [])];
      values.forEach((value, index) => {
        const unique = `${owner}-${field.name}-${path}-${index}-${randomUUID().slice(0, 8)}`;
        const given = field.args.filter((arg) => isNonNullType(arg.type) || arg === argument);
        const tree = Object.fromEntries(given.map((arg) => [arg.name, valueOf(arg.type, unique, arg === argument ? slot.steps : undefined)]));
        for (const form of forms) {
          let declarations: string[] = [];
          let call: string;
          let variables: Record<string, unknown> = {};
          if (form === 'variables') {
            declarations = given.map((arg) => `$${arg.name}: ${arg.type.toString()}`);
            variables = asJson(tree, value) as Record<string, unknown>;
            call = given.map((arg) => `${arg.name}: $${arg.name}`).join(', ');
          } else {
            const hostile = form === 'literal' ? JSON.stringify(value) : '$hostile';
            if (form === 'nested variable') {
              declarations = [`$hostile: ${slot.type?.toString()}`];
              variables = { hostile: value };
            }
            call = given.map((arg) => `${arg.name}: ${asLiteral(tree[arg.name], arg.type, hostile)}`).join(', ');
          }
          const shown = JSON.stringify(value.length > 20 ? `${value.slice(0, 20)}… (${value.length})` : value);
          cases.push({
            label: `${owner}.${field.name}(${path}) ← ${shown} [${form}]`,
            form,
            query: `${operation}${declarations.length ? ` (${declarations.join(', ')})` : ''} { ${wrap(`${field.name}(${call})${selection(field)}`)} }`,
            variables,
            value,
            field: path,
          });
        }
      });
    }
  }
  return cases;
}

/**
 * Every case of a schema: its root fields with arguments (those in `skipped` aside), and the fields
 * with arguments of one user, reached through `user` (`me { … }` at the gateway, `_entities` at a subgraph).
 */
export function everyCase(schema: GraphQLSchema, values: readonly string[], user: (inner: string) => string, skipped: ReadonlySet<string>): Case[] {
  const cases: Case[] = [];
  for (const [operation, root] of [
    ['query', schema.getQueryType()],
    ['mutation', schema.getMutationType()],
  ] as const) {
    for (const field of Object.values(root?.getFields() ?? {})) {
      if (!skipped.has(`${root?.name}.${field.name}`)) cases.push(...casesFor(root?.name ?? operation, field, (inner) => inner, operation, values));
    }
  }
  const type = schema.getType('User');
  if (isObjectType(type)) {
    for (const field of Object.values(type.getFields())) {
      if (field.args.length > 0) cases.push(...casesFor('User', field, user, 'query', values));
    }
  }
  return cases;
}
