import type { ApolloServerPlugin } from '@apollo/server';
import {
  GraphQLError,
  Kind,
  getNamedType,
  getNullableType,
  isListType,
  isObjectType,
  isInterfaceType,
  OperationTypeNode,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';
import { ErrorCode } from '@fedstack/runtime';
import type { OperationLimits } from './config';

/** Items a list field is assumed to return when nothing says how many. */
const ASSUMED_LIST_SIZE = 10;
/** Items a paginated field (one with a `first` argument) returns when `first` is not given. */
const ASSUMED_PAGE_SIZE = 20;

export interface OperationMeasure {
  depth: number;
  aliases: number;
  directives: number;
  cost: number;
}

interface Walk {
  schema: GraphQLSchema;
  fragments: Map<string, FragmentDefinitionNode>;
  variables: Record<string, unknown>;
  measure: OperationMeasure;
}

function numberArgument(value: ValueNode | undefined, variables: Record<string, unknown>): number | undefined {
  if (!value) return undefined;
  if (value.kind === Kind.INT) return Number(value.value);
  if (value.kind === Kind.VARIABLE) {
    const given = variables[value.name.value];
    return typeof given === 'number' ? given : undefined;
  }
  return undefined;
}

/** How many times a field's children are produced: `first` for paginated fields, an assumed size for other lists. */
function multiplier(field: GraphQLField<unknown, unknown> | undefined, first: number | undefined): number {
  if (!field) return 1;
  if (field.args.some((arg) => arg.name === 'first')) return Math.max(first ?? ASSUMED_PAGE_SIZE, 1);
  // A connection's edges are already counted by the paginated field above them.
  if (isListType(getNullableType(field.type)) && field.name !== 'edges') return ASSUMED_LIST_SIZE;
  return 1;
}

function walk(selectionSet: SelectionSetNode, parent: GraphQLNamedType | undefined, depth: number, weight: number, state: Walk): void {
  state.measure.depth = Math.max(state.measure.depth, depth);
  for (const selection of selectionSet.selections) {
    state.measure.directives += selection.directives?.length ?? 0;
    if (selection.kind === Kind.FIELD) {
      const name = selection.name.value;
      // Introspection is governed by the introspection setting, not by these limits.
      if (name === '__schema' || name === '__type') continue;
      if (selection.alias) state.measure.aliases += 1;
      const field = parent && (isObjectType(parent) || isInterfaceType(parent)) ? parent.getFields()[name] : undefined;
      state.measure.cost += weight;
      if (selection.selectionSet) {
        const first = numberArgument(selection.arguments?.find((arg) => arg.name.value === 'first')?.value, state.variables);
        walk(selection.selectionSet, field ? getNamedType(field.type) : undefined, depth + 1, weight * multiplier(field, first), state);
      }
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      const typed = selection.typeCondition ? (state.schema.getType(selection.typeCondition.name.value) ?? parent) : parent;
      walk(selection.selectionSet, typed, depth, weight, state);
    } else {
      const fragment = state.fragments.get(selection.name.value);
      if (!fragment) continue;
      state.measure.directives += fragment.directives?.length ?? 0;
      walk(fragment.selectionSet, state.schema.getType(fragment.typeCondition.name.value) ?? parent, depth, weight, state);
    }
  }
}

/** Measures the operation a request will run (fragments expanded; validation has ruled out cycles). */
export function measureOperation(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: Pick<OperationDefinitionNode, 'selectionSet' | 'operation' | 'directives' | 'variableDefinitions'>,
  variables: Record<string, unknown>,
): OperationMeasure {
  const fragments = new Map(
    document.definitions
      .filter((definition): definition is FragmentDefinitionNode => definition.kind === Kind.FRAGMENT_DEFINITION)
      .map((fragment) => [fragment.name.value, fragment] as const),
  );
  const measure: OperationMeasure = { depth: 0, aliases: 0, directives: operation.directives?.length ?? 0, cost: 0 };
  // A variable the request leaves out takes its declared default, which must be priced too.
  const defaults: Record<string, unknown> = {};
  for (const definition of operation.variableDefinitions ?? []) {
    if (definition.defaultValue?.kind === Kind.INT) defaults[definition.variable.name.value] = Number(definition.defaultValue.value);
  }
  const root = operation.operation === OperationTypeNode.MUTATION ? schema.getMutationType() : schema.getQueryType();
  walk(operation.selectionSet, root ?? undefined, 1, 1, { schema, fragments, variables: { ...defaults, ...variables }, measure });
  return measure;
}

/**
 * Refuses operations over the depth, alias, directive or cost limits once they are parsed and
 * validated, before a query plan is made or any subgraph is called. (Tokens are capped by the parser.)
 */
export function operationLimitsPlugin(limits: OperationLimits): ApolloServerPlugin {
  const checks: [keyof OperationMeasure, number][] = [
    ['depth', limits.maxDepth],
    ['aliases', limits.maxAliases],
    ['directives', limits.maxDirectives],
    ['cost', limits.maxCost],
  ];
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ schema, document, operation, request }) {
          if (!operation) return;
          const measure = measureOperation(schema, document, operation, request.variables ?? {});
          for (const [limit, max] of checks) {
            if (measure[limit] > max) {
              throw new GraphQLError(`Operation refused: its ${limit} is ${measure[limit]}, over the limit of ${max}`, {
                extensions: { code: ErrorCode.OPERATION_TOO_COMPLEX, limit, max, actual: measure[limit], http: { status: 400 } },
              });
            }
          }
        },
      };
    },
  };
}
