import path from 'node:path';
import { ConfigError, positiveInteger, REPOSITORY_ROOT } from '@fedstack/shared-db';
import { loadCommonConfig, subgraphUrls, type CommonConfig } from '@fedstack/service-kit';

/** Refusal thresholds for abusive operations, checked before any subgraph is called. */
export interface OperationLimits {
  maxDepth: number;
  maxAliases: number;
  maxDirectives: number;
  /** Lexical tokens in the document; enforced by the parser itself. */
  maxTokens: number;
  /** Fields weighted by list sizes (see limits.ts). */
  maxCost: number;
}

export interface GatewayConfig extends CommonConfig {
  supergraphFile: string;
  /** How often the supergraph file is checked for changes, in milliseconds. */
  supergraphPollMs: number;
  /** Routing URL overrides by subgraph name (<NAME>_SUBGRAPH_URL), for containers. */
  subgraphUrls: Record<string, string>;
  /** Time a subgraph call may take before it fails, in milliseconds. */
  subgraphTimeoutMs: number;
  /** Keep-alive connections per subgraph. */
  subgraphConnections: number;
  limits: OperationLimits;
  /** Browser origins allowed to call the API: '*' for any, empty for none. */
  corsOrigins: string[] | '*';
}

function corsOrigins(env: NodeJS.ProcessEnv, production: boolean): string[] | '*' {
  const raw = env.CORS_ORIGINS;
  if (raw === undefined) return production ? [] : '*';
  if (raw.trim() === '*') return '*';
  const origins = raw.split(',').map((origin) => origin.trim()).filter(Boolean);
  for (const origin of origins) {
    try {
      if (new URL(origin).origin !== origin) throw new Error('not an origin');
    } catch {
      throw new ConfigError(`CORS_ORIGINS must be "*" or a comma-separated list of origins such as https://app.example.com (got "${origin}")`);
    }
  }
  return origins;
}

/** The gateway's settings, read once at start. */
export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const common = loadCommonConfig('gateway', env);
  return {
    ...common,
    supergraphFile: path.resolve(env.SUPERGRAPH_FILE ?? path.join(REPOSITORY_ROOT, 'supergraph.graphql')),
    supergraphPollMs: positiveInteger(env, 'SUPERGRAPH_POLL_MS', 1000),
    subgraphUrls: subgraphUrls(env),
    subgraphTimeoutMs: positiveInteger(env, 'SUBGRAPH_TIMEOUT_MS', 10_000),
    subgraphConnections: positiveInteger(env, 'SUBGRAPH_CONNECTIONS', 64, 10_000),
    limits: {
      maxDepth: positiveInteger(env, 'MAX_QUERY_DEPTH', 12),
      maxAliases: positiveInteger(env, 'MAX_QUERY_ALIASES', 30),
      maxDirectives: positiveInteger(env, 'MAX_QUERY_DIRECTIVES', 20),
      maxTokens: positiveInteger(env, 'MAX_QUERY_TOKENS', 3000),
      maxCost: positiveInteger(env, 'MAX_QUERY_COST', 20_000),
    },
    corsOrigins: corsOrigins(env, common.production),
  };
}
