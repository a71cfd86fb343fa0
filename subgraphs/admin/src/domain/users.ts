// Suspending, reinstating and changing the role of a user, from the admin subgraph.
import { badUserInput, excerpt, type WalPositions } from '@fedstack/runtime';
import type { ServiceClient } from '@fedstack/shared-db';
import { InternalCallError, REASON_MAX, isUuid, type AuditRecord, type InternalClient } from '@fedstack/service-kit';
import { recordEntry } from './audit';

type AdminDb = ServiceClient<'admin'>;
type Role = 'USER' | 'ADMIN';

/** Who acts, and the request they act in (recorded in the audit entry). */
export interface Actor {
  userId: string;
  requestId: string;
  /** Where the services asked to act record how far their primary had got, for the admin's next reads (read-your-writes). */
  written?: WalPositions;
}

/** What an admin may do to an account; auth, which owns accounts, does it. */
export interface AccountActions {
  suspendUser(actor: Actor, userId: string, reason: string): Promise<{ id: string }>;
  reinstateUser(actor: Actor, userId: string): Promise<{ id: string }>;
  setUserRole(actor: Actor, userId: string, role: Role): Promise<{ id: string }>;
}

/** The target's id in canonical (lower-case) form; refuses anything else, and the actor themself. */
export function assertTarget(userId: string, actor: Actor, what: string): string {
  if (!isUuid(userId)) throw badUserInput('userId', `must be a UUID (got "${excerpt(userId, 64)}")`);
  const id = userId.toLowerCase();
  if (id === actor.userId.toLowerCase()) throw badUserInput('userId', `you cannot ${what} yourself; ask another admin`);
  return id;
}

/**
 * Account actions, asked of auth over the internal API. auth changes the account, ends its sign-ins and
 * writes the audit entry into its outbox in one transaction; the entry it answers with is recorded here
 * at once, so the acting admin sees it in the trail when the mutation returns (the outbox's copy, arriving
 * later or after a crash, is the same entry and changes nothing).
 */
export function accountActions(db: AdminDb, services: InternalClient): AccountActions {
  const ask = async (name: string, actor: Actor, input: Record<string, unknown>): Promise<{ id: string }> => {
    let result: { userId: string; audit: AuditRecord | null };
    try {
      const { written, ...who } = actor;
      result = await services.command('auth', name, { actor: who, ...input }, { requestId: actor.requestId, ...(written && { written }) });
    } catch (error) {
      throw error instanceof InternalCallError ? error.toClientError() : error;
    }
    const { audit } = result;
    if (audit) await db.$transaction((tx) => recordEntry(tx, audit, 'auth'));
    return { id: result.userId };
  };
  return {
    suspendUser(actor, requestedId, reasonText) {
      const userId = assertTarget(requestedId, actor, 'suspend');
      const reason = reasonText.trim();
      if (reason.length < 1 || [...reason].length > REASON_MAX) throw badUserInput('reason', `must be 1 to ${REASON_MAX} characters`);
      return ask('suspendUser', actor, { userId, reason });
    },
    reinstateUser: (actor, requestedId) => ask('reinstateUser', actor, { userId: assertTarget(requestedId, actor, 'reinstate') }),
    setUserRole: (actor, requestedId, role) => ask('setUserRole', actor, { userId: assertTarget(requestedId, actor, 'change the role of'), role }),
  };
}
