// How a subscription's document is validated, the same at the gateway and at a subgraph: graphql-js's rules, and the one it misses.
import {
  GraphQLError,
  Kind,
  OperationTypeNode,
  specifiedRules,
  validate,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  type SelectionSetNode,
} from 'graphql';

const CONDITIONS = new Set(['skip', 'include']);

/** Whether a root selection set, fragments followed, holds a selection that @skip or @include makes conditional. */
function hasCondition(selectionSet: SelectionSetNode, fragments: ReadonlyMap<string, FragmentDefinitionNode>, followed: Set<string>): boolean {
  return selectionSet.selections.some((selection) => {
    if (selection.directives?.some(({ name }) => CONDITIONS.has(name.value))) return true;
    if (selection.kind === Kind.FIELD) return false;
    if (selection.kind === Kind.INLINE_FRAGMENT) return hasCondition(selection.selectionSet, fragments, followed);
    const fragment = fragments.get(selection.name.value);
    // An unknown or cyclic spread is for graphql-js's rules to report.
    if (!fragment || followed.has(fragment.name.value)) return false;
    followed.add(fragment.name.value);
    return hasCondition(fragment.selectionSet, fragments, followed);
  });
}

/**
 * The validation errors of a document that may hold a subscription: graphql-js's, and a subscription's
 * root field made conditional (`@skip`, `@include`, on the field or on a fragment that holds it), which
 * the GraphQL specification forbids. graphql-js reports none of these: a literal condition passes
 * validation and fails when the operation is planned or run (INTERNAL_SERVER_ERROR); a variable makes its
 * rule of one root field throw, which would close the subscriber's connection. The errors carry no code:
 * the caller gives them theirs.
 */
export function validateSubscriptionDocument(
  schema: GraphQLSchema,
  document: DocumentNode,
  options: { hideSuggestions?: boolean } = {},
): readonly GraphQLError[] {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  const conditional = document.definitions.some(
    (definition) =>
      definition.kind === Kind.OPERATION_DEFINITION &&
      definition.operation === OperationTypeNode.SUBSCRIPTION &&
      hasCondition(definition.selectionSet, fragments, new Set()),
  );
  if (conditional) return [new GraphQLError("A subscription's root field cannot be skipped or included conditionally (@skip, @include)")];
  try {
    return validate(schema, document, specifiedRules, { hideSuggestions: options.hideSuggestions ?? false });
  } catch (error) {
    if (!(error instanceof GraphQLError)) throw error;
    return [error];
  }
}
