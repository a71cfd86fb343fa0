// The operations the gateway refuses to run: too deep, too many aliases or directives, too costly, or with money it cannot pass on exactly.
import type { ApolloServerPlugin } from '@apollo/server';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import {
  GraphQLError,
  Kind,
  OperationTypeNode,
  getNamedType,
  getNullableType,
  isCompositeType,
  isInterfaceType,
  isListType,
  isObjectType,
  parse,
  validate,
  type DirectiveNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationRule,
  type ValueNode,
} from 'graphql';
import { ErrorCode } from '@fedstack/runtime';
import type { OperationLimits } from './config';
import { exactDecimalLiterals } from './decimal-literals';
import { scalarLiterals } from './scalar-literals';

/**
 * Demand control from the schema's own `@cost` and `@listSize` (federation 2.9, the cost spec that
 * Apollo Router's demand control and Hive Gateway's cost limit read), so that a replacement gateway
 * holds the same limits. The subgraphs annotate their fields; composition carries the directives into
 * the supergraph, which the gateway reads them from.
 *
 * An operation's cost, as the spec's static analysis counts it: each field of an object, interface or
 * union type costs 1, a scalar or enum 0, unless `@cost(weight:)` says otherwise; a mutation's root
 * field costs 10 unless weighted; a list field multiplies what it selects by its size, which
 * `@listSize` gives: the value of a slicing argument (`first`), else `assumedSize`, else 1; with
 * `sizedFields`, the size applies to those child fields (a connection's `edges`).
 */
export interface FieldCost {
  weight?: number;
  assumedSize?: number;
  slicingArguments?: string[];
  sizedFields?: string[];
}

/** Each annotated field's cost, by `Type.field`. */
export type CostModel = Map<string, FieldCost>;

const MUTATION_WEIGHT = 10;

function intArgument(directive: DirectiveNode, name: string): number | undefined {
  const value = directive.arguments?.find((argument) => argument.name.value === name)?.value;
  return value?.kind === Kind.INT ? Number(value.value) : undefined;
}

function listArgument(directive: DirectiveNode, name: string): string[] | undefined {
  const value = directive.arguments?.find((argument) => argument.name.value === name)?.value;
  if (value?.kind !== Kind.LIST) return undefined;
  return value.values.flatMap((item) => (item.kind === Kind.STRING ? [item.value] : []));
}

/** Reads `@cost` and `@listSize` off every field of a schema's SDL (the supergraph's, in the gateway). */
export function costModelOf(sdl: string): CostModel {
  const model: CostModel = new Map();
  for (const definition of parse(sdl).definitions) {
    if (!('fields' in definition) || !('name' in definition) || !definition.name || definition.kind === Kind.INPUT_OBJECT_TYPE_DEFINITION) continue;
    for (const field of definition.fields ?? []) {
      if (!('type' in field) || field.kind !== Kind.FIELD_DEFINITION) continue;
      const cost: FieldCost = {};
      for (const directive of field.directives ?? []) {
        if (directive.name.value === 'cost') {
          const weight = intArgument(directive, 'weight');
          if (weight !== undefined) cost.weight = weight;
        } else if (directive.name.value === 'listSize') {
          const assumedSize = intArgument(directive, 'assumedSize');
          const slicingArguments = listArgument(directive, 'slicingArguments');
          const sizedFields = listArgument(directive, 'sizedFields');
          Object.assign(cost, {
            ...(assumedSize === undefined ? {} : { assumedSize }),
            ...(slicingArguments ? { slicingArguments } : {}),
            ...(sizedFields ? { sizedFields } : {}),
          });
        }
      }
      if (Object.keys(cost).length > 0) model.set(`${definition.name.value}.${field.name.value}`, cost);
    }
  }
  return model;
}

interface Walk {
  schema: GraphQLSchema;
  model: CostModel;
  fragments: Map<string, FragmentDefinitionNode>;
  variables: Record<string, unknown>;
  /**
   * Each fragment's cost, once worked out, by its name and the size a parent carries down to it: walked
   * again at every spread, a document of a few fragments each spreading the next many times took
   * seconds to minutes of the gateway's only thread (k spreads at 5 levels: k⁵ walks).
   */
  fragmentCosts: Map<string, number>;
}

function intValue(value: ValueNode | undefined, variables: Record<string, unknown>): number | undefined {
  if (value?.kind === Kind.INT) return Number(value.value);
  if (value?.kind === Kind.VARIABLE) {
    const given = variables[value.name.value];
    return typeof given === 'number' ? given : undefined;
  }
  return undefined;
}

/** The list size a field's `@listSize` gives for this selection: its slicing argument's value, else its assumed size. */
function sizeOf(cost: FieldCost | undefined, selection: FieldNode, variables: Record<string, unknown>): number {
  for (const name of cost?.slicingArguments ?? []) {
    const given = intValue(selection.arguments?.find((argument) => argument.name.value === name)?.value, variables);
    if (given !== undefined) return Math.max(given, 0);
  }
  return cost?.assumedSize ?? 1;
}

/** The cost of a selection set on `parent`; `sized` carries a parent's size down to the child fields it names. */
function selectionCost(selectionSet: SelectionSetNode, parent: GraphQLNamedType | undefined, state: Walk, sized?: { fields: string[]; size: number }): number {
  let total = 0;
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      const name = selection.name.value;
      // Introspection is governed by the introspection setting, not by these limits.
      if (name === '__schema' || name === '__type' || name === '__typename') continue;
      const field: GraphQLField<unknown, unknown> | undefined =
        parent && (isObjectType(parent) || isInterfaceType(parent)) ? parent.getFields()[name] : undefined;
      const cost = parent ? state.model.get(`${parent.name}.${name}`) : undefined;
      const type = field ? getNamedType(field.type) : undefined;
      const isMutationRoot = parent !== undefined && parent === state.schema.getMutationType();
      const weight = cost?.weight ?? (isMutationRoot ? MUTATION_WEIGHT : type && isCompositeType(type) ? 1 : 0);
      const children = selection.selectionSet
        ? selectionCost(
            selection.selectionSet,
            type,
            state,
            cost?.sizedFields ? { fields: cost.sizedFields, size: sizeOf(cost, selection, state.variables) } : undefined,
          )
        : 0;
      const isList = field ? isListType(getNullableType(field.type)) : false;
      const size = sized?.fields.includes(name) ? sized.size : isList && !cost?.sizedFields ? sizeOf(cost, selection, state.variables) : 1;
      // A list costs its items: each item's own weight and what it selects.
      total += isList || sized?.fields.includes(name) ? size * (weight + children) : weight + children;
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      const typed = selection.typeCondition ? (state.schema.getType(selection.typeCondition.name.value) ?? parent) : parent;
      total += selectionCost(selection.selectionSet, typed, state, sized);
    } else {
      const fragment = state.fragments.get(selection.name.value);
      if (!fragment) continue;
      const typed = state.schema.getType(fragment.typeCondition.name.value) ?? parent;
      const key = JSON.stringify([fragment.name.value, typed?.name, sized]);
      let cost = state.fragmentCosts.get(key);
      if (cost === undefined) {
        cost = selectionCost(fragment.selectionSet, typed, state, sized);
        state.fragmentCosts.set(key, cost);
      }
      total += cost;
    }
  }
  return total;
}

/** The cost of the operation a request will run (fragments expanded; validation has ruled out cycles). */
export function operationCost(
  schema: GraphQLSchema,
  model: CostModel,
  document: DocumentNode,
  operation: Pick<OperationDefinitionNode, 'selectionSet' | 'operation' | 'variableDefinitions'>,
  variables: Record<string, unknown>,
): number {
  const fragments = new Map(
    document.definitions
      .filter((definition): definition is FragmentDefinitionNode => definition.kind === Kind.FRAGMENT_DEFINITION)
      .map((fragment) => [fragment.name.value, fragment] as const),
  );
  // A variable the request leaves out takes its declared default, which must be priced too.
  const defaults: Record<string, unknown> = {};
  for (const definition of operation.variableDefinitions ?? []) {
    if (definition.defaultValue?.kind === Kind.INT) defaults[definition.variable.name.value] = Number(definition.defaultValue.value);
  }
  const root =
    operation.operation === OperationTypeNode.MUTATION
      ? schema.getMutationType()
      : operation.operation === OperationTypeNode.SUBSCRIPTION
        ? schema.getSubscriptionType()
        : schema.getQueryType();
  return selectionCost(operation.selectionSet, root ?? undefined, {
    schema,
    model,
    fragments,
    variables: { ...defaults, ...variables },
    fragmentCosts: new Map(),
  });
}

function tooComplex(limit: string, max: number, message: string): GraphQLError {
  return new GraphQLError(`Operation refused: ${message}`, {
    extensions: { code: ErrorCode.OPERATION_TOO_COMPLEX, limit, max, http: { status: 400 } },
  });
}

/** The operation limits, as one check any transport runs on a parsed, validated operation. */
export interface OperationLimitCheck {
  /** The refusal for an operation over a limit, or null; `document` is checked once however often it is sent. */
  refusal(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: Pick<OperationDefinitionNode, 'selectionSet' | 'operation' | 'variableDefinitions'>,
    variables: Record<string, unknown>,
  ): GraphQLError | null;
  /** Reads the cost model from a newly loaded supergraph. */
  supergraphLoaded(coreSupergraphSdl: string): void;
}

/**
 * The depth, alias, directive and cost limits. Depth, aliases and directives are GraphQL Armor's rules;
 * the cost is the schema's `@cost`/`@listSize`, read from the supergraph each time the gateway loads one.
 * (Tokens are capped by the parser.) The same pass refuses Decimal literals the planner would round, and
 * lists or objects written where a scalar is expected, whose planning takes time exponential in their depth.
 */
export function operationLimits(limits: OperationLimits): OperationLimitCheck {
  // Each rule reports a refusal to onReject; it neither throws (propagateOnRejection) nor adds a
  // validation error, so that the refusal keeps this gateway's error code. One validation pass runs them all.
  const refusals: GraphQLError[] = [];
  const armor = (limit: string, max: number) => ({
    exposeLimits: true,
    propagateOnRejection: false,
    onReject: [(_context: unknown, error: GraphQLError) => void refusals.push(tooComplex(limit, max, error.message.replace(/^Syntax Error: /, '')))],
  });
  const rules: ValidationRule[] = [
    // A fragment (named or inline) is no level of its own: written with fragments, as clients colocate
    // them, a query is as deep as written inline (each spread counted about 2 levels: 7 read as 19).
    maxDepthRule({ n: limits.maxDepth, ignoreIntrospection: true, flattenFragments: true, ...armor('depth', limits.maxDepth) }),
    maxAliasesRule({ n: limits.maxAliases, ...armor('aliases', limits.maxAliases) }),
    maxDirectivesRule({ n: limits.maxDirectives, ...armor('directives', limits.maxDirectives) }),
    exactDecimalLiterals((error) => void refusals.push(error)),
    scalarLiterals((error) => void refusals.push(error)),
  ];
  // The rules look at the document alone, and the server keeps one parsed document per query text:
  // each is checked once, not on every request that sends it.
  const checked = new WeakMap<DocumentNode, GraphQLError | null>();
  let model: CostModel = new Map();
  return {
    refusal(schema, document, operation, variables) {
      let refusal = checked.get(document);
      if (refusal === undefined) {
        // Validation is synchronous: what this call adds to the refusals is this document's.
        refusals.length = 0;
        validate(schema, document, rules);
        refusal = refusals[0] ?? null;
        checked.set(document, refusal);
      }
      // A fresh error each time: Apollo adds to the one it is given.
      if (refusal) return new GraphQLError(refusal.message, { extensions: refusal.extensions });
      const cost = operationCost(schema, model, document, operation, variables);
      return cost > limits.maxCost ? tooComplex('cost', limits.maxCost, `its cost is ${cost}, over the limit of ${limits.maxCost}`) : null;
    },
    supergraphLoaded(coreSupergraphSdl) {
      model = costModelOf(coreSupergraphSdl);
    },
  };
}

/** Refuses operations over the limits once they are parsed and validated, before a query plan is made or any subgraph is called. */
export function operationLimitsPlugin(check: OperationLimitCheck): ApolloServerPlugin {
  return {
    async serverWillStart() {
      return {
        schemaDidLoadOrUpdate({ coreSupergraphSdl }) {
          if (coreSupergraphSdl) check.supergraphLoaded(coreSupergraphSdl);
        },
      };
    },
    async requestDidStart() {
      return {
        async didResolveOperation({ schema, document, operation, request }) {
          if (!operation) return;
          const refusal = check.refusal(schema, document, operation, request.variables ?? {});
          if (refusal) throw refusal;
        },
      };
    },
  };
}
