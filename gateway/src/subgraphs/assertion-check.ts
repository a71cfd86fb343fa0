// The gateway's readiness: whether the subgraphs take its assertion, asked of each at most every few seconds.
import { GATEWAY_ASSERTION_HEADER, refusesAssertion } from '@fedstack/runtime';

/** How long one finding stands: `/readyz` is open to anyone, and each check asks every subgraph. */
export const ASSERTION_CHECK_EVERY_MS = 5000;
/**
 * How long a subgraph has to answer the check, whatever SUBGRAPH_TIMEOUT_MS is: the first check is waited
 * for, within an orchestrator's probe (Kubernetes gives one a second), and a subgraph that takes longer
 * has not refused.
 */
export const ASSERTION_CHECK_TIMEOUT_MS = 800;

/** A subgraph the gateway calls, as its data source knows it. */
export interface SubgraphTarget {
  name: string;
  url: string;
}

/** How `target` took this gateway's assertion: refused it, took it, or said nothing (down, slow, another answer). */
async function answer(target: SubgraphTarget, assertion: string, timeoutMs: number): Promise<'refused' | 'taken' | undefined> {
  try {
    const response = await fetch(target.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [GATEWAY_ASSERTION_HEADER]: assertion },
      // Named, for whoever reads the subgraph's log or metrics.
      body: JSON.stringify({ query: 'query GatewayReadiness { __typename }' }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await response.json()) as { data?: unknown };
    if (response.status === 401 && refusesAssertion(body)) return 'refused';
    return response.ok && body.data ? 'taken' : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A readiness check that fails while every subgraph that answers refuses this gateway's assertion: a
 * gateway given a key they do not hold (a rotation done out of order, a wrong secret), through which every
 * client request would fail SUBGRAPH_UNAVAILABLE. Not ready, it is sent no clients, and a rollout of it
 * stops there while the gateways on the old key serve. One subgraph refusing while others take it is that
 * subgraph's setting, not this gateway's: every gateway would be refused alike, and taking them all out of
 * their load balancer would turn its fields failing into an outage. A subgraph that is down or answers
 * anything else does not count. Asks at most every ASSERTION_CHECK_EVERY_MS after its last round ended,
 * however often it is asked (`/readyz` is open to anyone); checks that come together share one round.
 */
export function assertionReadiness(
  subgraphs: () => SubgraphTarget[],
  assertion: (subgraph: string) => Promise<string>,
  now: () => number = () => performance.now(),
): () => Promise<void> {
  let last: { at: number; refused: boolean } | undefined;
  let round: Promise<void> | undefined;
  const ask = async (): Promise<void> => {
    const answers = await Promise.all(subgraphs().map(async (target) => answer(target, await assertion(target.name), ASSERTION_CHECK_TIMEOUT_MS)));
    last = { at: now(), refused: answers.includes('refused') && !answers.includes('taken') };
  };
  const refresh = () => (round ??= ask().finally(() => (round = undefined)));
  return async () => {
    // The first check is waited for; after it, each answers from the last finding at once, a stale one
    // asked again meanwhile, so that a subgraph slow to answer never holds a probe up.
    if (!last) await refresh();
    else if (now() - last.at >= ASSERTION_CHECK_EVERY_MS) void refresh();
    if (last?.refused) {
      throw new Error(
        `the subgraphs refuse this gateway's assertion: their GATEWAY_PUBLIC_KEY does not hold its key (GATEWAY_PRIVATE_KEY; docs/operations.md, "Rotating keys")`,
      );
    }
  };
}
