// Judging a schema change by the operations clients ship: which listed operations it breaks, and which breaking changes no listed operation uses.
import path from 'node:path';
import {
  Kind,
  TypeInfo,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isNonNullType,
  parse,
  specifiedRules,
  validate,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type GraphQLArgument,
  type GraphQLInputField,
  type GraphQLInputType,
  type GraphQLSchema,
} from 'graphql';
import type { OperationLimits } from './config';
import { operationLimits } from './limits';
import type { PersistedOperation } from './persisted';

/**
 * The schema coordinates an operation touches, spelt as graphql-inspector names a change's path:
 * `Type.field`, `Type.field.argument`, `Input.field`, `Enum.VALUE`, and every type it reads or sends
 * (`used`); and, of those, what its variables may carry, whose values come only at run time (`byVariables`).
 */
function coordinatesUsed(schema: GraphQLSchema, document: DocumentNode): { used: Set<string>; byVariables: Set<string> } {
  const used = new Set<string>();
  const byVariables = new Set<string>();
  const typeInfo = new TypeInfo(schema);
  const useType = (type: Parameters<typeof getNamedType>[0] | null | undefined) => {
    const named = type ? getNamedType(type) : undefined;
    if (named) used.add(named.name);
  };
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field() {
        const parent = typeInfo.getParentType();
        const field = typeInfo.getFieldDef();
        if (!parent || !field) return;
        used.add(`${parent.name}.${field.name}`);
        useType(field.type);
      },
      Argument() {
        const parent = typeInfo.getParentType();
        const field = typeInfo.getFieldDef();
        const argument = typeInfo.getArgument();
        if (parent && field && argument) used.add(`${parent.name}.${field.name}.${argument.name}`);
        useType(argument?.type);
      },
      ObjectField(node) {
        const input = typeInfo.getParentInputType();
        const named = input ? getNamedType(input) : undefined;
        if (named) used.add(`${named.name}.${node.name.value}`);
        useType(typeInfo.getInputType());
      },
      EnumValue(node) {
        const named = typeInfo.getInputType();
        const type = named ? getNamedType(named) : undefined;
        if (type) used.add(`${type.name}.${node.value}`);
      },
      VariableDefinition() {
        const type = typeInfo.getInputType();
        if (type) useSent(type, byVariables);
      },
      InlineFragment() {
        useType(typeInfo.getType());
      },
      FragmentDefinition() {
        useType(typeInfo.getType());
      },
    }),
  );
  for (const coordinate of byVariables) used.add(coordinate);
  return { used, byVariables };
}

/**
 * What a variable of `type` may carry, since its value comes only at run time: the type, every field of
 * an input object (and of the input objects within), and every enum value.
 */
function useSent(type: GraphQLInputType, used: Set<string>): void {
  const named = getNamedType(type);
  if (used.has(named.name)) return;
  used.add(named.name);
  if (isEnumType(named)) for (const value of named.getValues()) used.add(`${named.name}.${value.name}`);
  if (isInputObjectType(named)) {
    for (const field of Object.values(named.getFields())) {
      used.add(`${named.name}.${field.name}`);
      useSent(field.type, used);
    }
  }
}

/** The argument a `Type.field.argument` coordinate names in `schema`, if it has it. */
function argumentAt(changePath: string, schema: GraphQLSchema): GraphQLArgument | undefined {
  const [typeName, fieldName, argumentName, ...rest] = changePath.split('.');
  if (!typeName || !fieldName || !argumentName || rest.length > 0) return undefined;
  const type = schema.getType(typeName);
  const field = type && 'getFields' in type && !isInputObjectType(type) ? type.getFields()[fieldName] : undefined;
  return field?.args.find((candidate) => candidate.name === argumentName);
}

/** Whether `Type.field.argument` is, in `schema`, an argument every call of the field must now give. */
function requiredArgument(changePath: string, schema: GraphQLSchema): boolean {
  const argument = argumentAt(changePath, schema);
  return argument !== undefined && isNonNullType(argument.type) && argument.defaultValue === undefined;
}

/** The field an `Input.field` coordinate names in `schema`, if it has it. */
function inputFieldAt(changePath: string, schema: GraphQLSchema): GraphQLInputField | undefined {
  const [typeName, fieldName, ...rest] = changePath.split('.');
  const type = typeName ? schema.getType(typeName) : undefined;
  return fieldName && rest.length === 0 && isInputObjectType(type) ? type.getFields()[fieldName] : undefined;
}

/**
 * What a change at `changePath` made required: an argument or an input object's field in both schemas,
 * its type in `next` the base's made non-null (`ID` to `ID!`); or nothing.
 */
function madeRequired(changePath: string, base: GraphQLSchema, next: GraphQLSchema): 'argument' | 'input field' | null {
  const tightened = (before: { type: GraphQLInputType } | undefined, after: { type: GraphQLInputType } | undefined) =>
    before !== undefined && after !== undefined && String(after.type) === `${String(before.type)}!`;
  if (tightened(argumentAt(changePath, base), argumentAt(changePath, next))) return 'argument';
  return tightened(inputFieldAt(changePath, base), inputFieldAt(changePath, next)) ? 'input field' : null;
}

/**
 * Whether a change at `changePath` reaches an operation that uses `used` (coordinates of the base
 * schema): a change to an enum's values reaches whoever reads or sends the enum, one to an input
 * object's fields (a required field added, say) whoever sends that input object, and an argument the
 * `next` schema requires every caller of its field.
 */
function reaches(changePath: string, used: Set<string>, base: GraphQLSchema, next: GraphQLSchema): boolean {
  if (used.has(changePath)) return true;
  const [typeName, fieldName] = changePath.split('.');
  const type = typeName ? base.getType(typeName) : undefined;
  if (changePath.includes('.') && (isEnumType(type) || isInputObjectType(type)) && used.has(type.name)) return true;
  return used.has(`${typeName}.${fieldName}`) && requiredArgument(changePath, next);
}

export interface OperationCheck {
  /** Listed operations the change breaks, naming each and the field: the change must wait for their clients. */
  problems: string[];
  /** Breaking changes by the generic rules that no listed operation uses. */
  warnings: string[];
}

const label = (operation: PersistedOperation) => `"${operation.name}" (${path.relative(process.cwd(), operation.file) || operation.file})`;

/**
 * Checks the listed operations against the new API schema (each must still validate) and sorts the
 * breaking changes since the base, as GraphOS operation checks judge them: one a listed operation uses
 * fails the check, even when acknowledged (its clients must change first); one none uses is a warning,
 * or nothing once acknowledged.
 */
export function checkOperations(
  operations: readonly PersistedOperation[],
  next: GraphQLSchema,
  base: { schema: GraphQLSchema; changes: { path: string; message: string }[]; acknowledged: ReadonlySet<string> } | null,
): OperationCheck {
  const problems: string[] = [];
  const warnings: string[] = [];
  const documents = operations.map((operation) => {
    const document = parse(operation.body);
    return { operation, document, errors: validate(next, document, specifiedRules) };
  });
  const invalid = documents.flatMap(({ operation, errors }) => errors.map((error) => `  ${label(operation)}: ${error.message}`));
  if (invalid.length > 0) {
    problems.push('Listed operations the new schema would break (change the clients and their manifests first, then the schema):', ...invalid);
  }
  if (!base) return { problems, warnings };
  const usage = documents.map(({ operation, document, errors }) => ({ operation, ...coordinatesUsed(base.schema, document), valid: errors.length === 0 }));
  const breaking: string[] = [];
  for (const change of base.changes) {
    // An argument or input field made required breaks only the operations that leave it out, or give it a
    // value that may be null, which the new schema does not validate; and, for an input field, those that
    // send its input object in a variable, whose value may leave it out.
    const tightened = madeRequired(change.path, base.schema, next);
    const inputType = change.path.split('.')[0] ?? '';
    const unharmed = (valid: boolean, byVariables: Set<string>) =>
      valid && (tightened === 'argument' || (tightened === 'input field' && !byVariables.has(inputType)));
    const users = usage
      .filter(({ used, valid, byVariables }) => reaches(change.path, used, base.schema, next) && !unharmed(valid, byVariables))
      .map(({ operation }) => label(operation));
    if (users.length > 0) breaking.push(`  ${change.path}: ${change.message} (used by ${users.join(', ')})`);
    else if (!base.acknowledged.has(change.path)) warnings.push(`  ${change.path}: ${change.message} (no listed operation uses it)`);
  }
  if (breaking.length > 0) {
    problems.push('Breaking changes that listed operations use (change the clients and their manifests first, then the schema):', ...breaking);
  }
  if (warnings.length > 0) warnings.unshift('Breaking changes by the generic rules that no listed operation uses:');
  return { problems, warnings };
}

/** The setting that sets each limit the gateway reports (limits.ts's `limit` extension). */
const LIMIT_SETTINGS: Record<string, string> = {
  depth: 'MAX_QUERY_DEPTH',
  aliases: 'MAX_QUERY_ALIASES',
  directives: 'MAX_QUERY_DIRECTIVES',
  cost: 'MAX_QUERY_COST',
};

/**
 * Listed operations the gateway would refuse under `limits` once it serves `supergraphSdl`: a change can
 * put an operation over a limit (a heavier `@cost`, a larger `@listSize`) as surely as it can remove a
 * field it uses. Variables are not known here: a list is sized by its argument's default, else by the
 * schema's assumed size. Operations the schema no longer validates are left to `checkOperations`.
 */
export function operationsOverLimits(operations: readonly PersistedOperation[], next: GraphQLSchema, supergraphSdl: string, limits: OperationLimits): string[] {
  const check = operationLimits(limits);
  check.supergraphLoaded(supergraphSdl);
  const refused: string[] = [];
  for (const operation of operations) {
    let document: DocumentNode;
    try {
      document = parse(operation.body, { maxTokens: limits.maxTokens });
    } catch (error) {
      refused.push(`  ${label(operation)}: ${(error as Error).message} (MAX_QUERY_TOKENS)`);
      continue;
    }
    if (validate(next, document, specifiedRules).length > 0) continue;
    for (const definition of document.definitions) {
      if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
      const refusal = check.refusal(next, document, definition, {});
      if (refusal) refused.push(`  ${label(operation)}: ${refusal.message} (${LIMIT_SETTINGS[String(refusal.extensions.limit)] ?? 'limit'})`);
    }
  }
  return refused.length > 0 ? ["Listed operations the gateway's limits would refuse (lighten them in the clients first, or raise the limit):", ...refused] : [];
}
