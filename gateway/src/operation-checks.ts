// Judging a schema change by the operations clients ship: which listed operations it breaks, and which breaking changes no listed operation uses.
import path from 'node:path';
import {
  TypeInfo,
  getNamedType,
  isEnumType,
  isInputObjectType,
  parse,
  specifiedRules,
  validate,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type GraphQLInputType,
  type GraphQLSchema,
} from 'graphql';
import type { PersistedOperation } from './persisted';

/**
 * The schema coordinates an operation touches, spelt as graphql-inspector names a change's path:
 * `Type.field`, `Type.field.argument`, `Input.field`, `Enum.VALUE`, and every type it reads or sends.
 */
export function coordinatesUsed(schema: GraphQLSchema, document: DocumentNode): Set<string> {
  const used = new Set<string>();
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
        if (type) useSent(type, used);
      },
      InlineFragment() {
        useType(typeInfo.getType());
      },
      FragmentDefinition() {
        useType(typeInfo.getType());
      },
    }),
  );
  return used;
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

/**
 * Whether a change at `changePath` reaches an operation that uses `used`: a change to an enum's values
 * reaches whoever reads or sends the enum, and one to an input object's fields (a required field added,
 * say) whoever sends that input object.
 */
function reaches(changePath: string, used: Set<string>, schema: GraphQLSchema): boolean {
  if (used.has(changePath)) return true;
  const [typeName] = changePath.split('.');
  const type = typeName ? schema.getType(typeName) : undefined;
  return changePath.includes('.') && (isEnumType(type) || isInputObjectType(type)) && used.has(type.name);
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
  const documents = operations.map((operation) => ({ operation, document: parse(operation.body) }));
  const invalid = documents.flatMap(({ operation, document }) =>
    validate(next, document, specifiedRules).map((error) => `  ${label(operation)}: ${error.message}`),
  );
  if (invalid.length > 0) {
    problems.push('Listed operations the new schema would break (change the clients and their manifests first, then the schema):', ...invalid);
  }
  if (!base) return { problems, warnings };
  const usage = documents.map(({ operation, document }) => ({ operation, used: coordinatesUsed(base.schema, document) }));
  const breaking: string[] = [];
  for (const change of base.changes) {
    const users = usage.filter(({ used }) => reaches(change.path, used, base.schema)).map(({ operation }) => label(operation));
    if (users.length > 0) breaking.push(`  ${change.path}: ${change.message} (used by ${users.join(', ')})`);
    else if (!base.acknowledged.has(change.path)) warnings.push(`  ${change.path}: ${change.message} (no listed operation uses it)`);
  }
  if (breaking.length > 0) {
    problems.push('Breaking changes that listed operations use (change the clients and their manifests first, then the schema):', ...breaking);
  }
  if (warnings.length > 0) warnings.unshift('Breaking changes by the generic rules that no listed operation uses:');
  return { problems, warnings };
}
