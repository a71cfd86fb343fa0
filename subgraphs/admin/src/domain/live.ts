// auditEntryAdded: every audit entry as it is recorded, for as long as the subscriber is an active admin.
import { requireAdmin, liveEvents, type LiveFeed } from '@fedstack/service-kit';

/** The channel admin.audit_entries' trigger announces every entry on (migration 20261209100000_subscription_events). */
export const AUDIT_ENTRY_ADDED = 'admin_audit_entry_added';

/** Every entry recorded from now on; an admin demoted (or suspended, erased, signed out) is refused from then on. */
export function auditEntries(): LiveFeed {
  return liveEvents(AUDIT_ENTRY_ADDED, { authorize: (viewer) => void requireAdmin({ viewer, error: null }) });
}
