// Query plans for subscriptions, from the supergraph the gateway serves: the planner plans them, the gateway alone does not run them.
import { Supergraph, operationFromDocument, type Schema } from '@apollo/federation-internals';
import { buildOperationContext } from '@apollo/gateway';
import { QueryPlanner, type FetchNode, type PlanNode } from '@apollo/query-planner';
import { Kind, type DocumentNode, type FragmentDefinitionNode, type GraphQLSchema, type SelectionSetNode } from 'graphql';

/**
 * `@apollo/query-planner` plans a subscription as a `SubscriptionNode`: a `primary` fetch from the
 * subgraph that owns the root field, and the `rest` of the plan (entity fetches for the other subgraphs'
 * fields), which `@apollo/gateway` refuses to execute. This keeps a planner of its own over the same
 * supergraph (reloaded with it), so that the subscription executor can run the primary as a subscription
 * and the rest once per event.
 */
/** What @apollo/gateway's executor is given about an operation (its type is not exported). */
export type OperationContext = ReturnType<typeof buildOperationContext>;

export interface SubscriptionPlan {
  primary: FetchNode;
  /** What runs for each event: the primary (answered by the event), then the rest. */
  node: PlanNode;
  /** The subscription's root field, which metrics and logs name it by. */
  field: string;
  operationContext: OperationContext;
  /** The supergraph it was planned on, for executing the rest. */
  supergraphSchema: GraphQLSchema;
  apiSchema: Schema;
}

interface Loaded {
  planner: QueryPlanner;
  supergraphSchema: GraphQLSchema;
  apiSchema: Schema;
  apiGraphQLSchema: GraphQLSchema;
  /** Plans by document and operation name: a document is planned once per supergraph, however often it is sent. */
  plans: WeakMap<DocumentNode, Map<string, SubscriptionPlan>>;
}

export class SubscriptionPlanner {
  private loaded: Loaded | undefined;

  /** Plans on a newly loaded supergraph from now on (the gateway's `onSchemaLoadOrUpdate`). */
  load(coreSupergraphSdl: string): void {
    const supergraph = Supergraph.build(coreSupergraphSdl);
    const apiSchema = supergraph.apiSchema();
    this.loaded = {
      planner: new QueryPlanner(supergraph),
      supergraphSchema: supergraph.schema.toGraphQLJSSchema(),
      apiSchema,
      apiGraphQLSchema: apiSchema.toGraphQLJSSchema(),
      plans: new WeakMap(),
    };
  }

  /** The schema clients see, to validate their documents against. */
  get schema(): GraphQLSchema {
    return this.current().apiGraphQLSchema;
  }

  /** The plan for a validated subscription document. */
  plan(document: DocumentNode, operationName: string | undefined): SubscriptionPlan {
    const loaded = this.current();
    let byName = loaded.plans.get(document);
    if (!byName) loaded.plans.set(document, (byName = new Map<string, SubscriptionPlan>()));
    const known = byName.get(operationName ?? '');
    if (known) return known;
    const operation = operationFromDocument(loaded.apiSchema, document, { operationName });
    const { node } = loaded.planner.buildQueryPlan(operation);
    if (node?.kind !== 'Subscription') throw new Error('not a subscription');
    const operationContext = buildOperationContext({ schema: loaded.apiGraphQLSchema, operationDocument: document, operationName });
    const plan: SubscriptionPlan = {
      primary: node.primary,
      node: node.rest ? { kind: 'Sequence', nodes: [node.primary, node.rest] } : node.primary,
      field: rootField(operationContext.operation.selectionSet, operationContext.fragments) ?? 'unknown',
      operationContext,
      supergraphSchema: loaded.supergraphSchema,
      apiSchema: loaded.apiSchema,
    };
    byName.set(operationName ?? '', plan);
    return plan;
  }

  private current(): Loaded {
    if (!this.loaded) throw new Error('no supergraph loaded yet');
    return this.loaded;
  }
}

/** The subscription's one root field, wherever it is written: directly, or in a fragment, inline or named. */
function rootField(selectionSet: SelectionSetNode, fragments: Record<string, FragmentDefinitionNode>): string | undefined {
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) return selection.name.value;
    const inner = selection.kind === Kind.INLINE_FRAGMENT ? selection.selectionSet : fragments[selection.name.value]?.selectionSet;
    const found = inner && rootField(inner, fragments);
    if (found) return found;
  }
  return undefined;
}
