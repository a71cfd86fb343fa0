// The admin subgraph's server: its schema, resolvers, audit events and erasure worker on service-kit's subgraph server.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'graphql';
import { createSubgraphServer, type SubgraphDeps, type SubgraphServer, type SubgraphServerOptions } from '@fedstack/service-kit';
import type { AdminConfig } from './config';
import { createAdminContext, type AdminServices } from './context';
import { auditEvents } from './domain/audit';
import { createErasures } from './domain/erasure';
import { AUDIT_ENTRY_ADDED } from './domain/live';
import { accountActions } from './domain/users';
import { resolvers } from './resolvers';

export const typeDefs = parse(readFileSync(path.join(__dirname, '..', 'schema.graphql'), 'utf8'));

export interface AdminServerOptions extends SubgraphServerOptions {
  config: AdminConfig;
}

/** Builds the admin subgraph (not yet listening). */
export function createAdminServer(options: AdminServerOptions): Promise<SubgraphServer<'admin'>> {
  const { config } = options;
  let services: AdminServices | undefined;
  // Built once, from the process's client and internal API client, for the context and the worker alike.
  const servicesOf = ({ db, services: internal, logger, metrics }: SubgraphDeps<'admin'>) =>
    (services ??= {
      accounts: accountActions(db, internal),
      // An attempt calls three services in turn; until it could have finished, nobody else takes it up.
      erasures: createErasures(
        db,
        internal,
        { logger: logger.child({ component: 'erasure' }), metrics },
        { pollMs: config.outbox.pollMs, ...config.erasure, leaseMs: 3 * config.internal.timeoutMs + 1000 },
      ),
    });
  return createSubgraphServer(
    {
      service: 'admin',
      typeDefs,
      resolvers,
      textLimits: { 'Query.auditLog': { 'filter.action': 100, 'filter.targetId': 100 } },
      context: (request, deps) => createAdminContext(request, deps.db, servicesOf(deps)),
      internal: ({ db }) => ({ events: auditEvents(db) }),
      subscriptions: { channels: [AUDIT_ENTRY_ADDED], limits: config.subscriptions },
      workers: (deps) => [servicesOf(deps).erasures.worker],
    },
    options,
  );
}
