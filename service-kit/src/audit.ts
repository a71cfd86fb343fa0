// Audit entries travel like any other event: the service that makes a change writes the entry into its
// outbox in the same transaction, and admin, which keeps the trail, records it once (its id is the
// event's). So an action and its entry never diverge for good, whatever crashes in between.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Service } from '@fedstack/runtime';
import { ACCOUNT_CHANGED } from './accounts';
import { enqueue, type RawExecutor } from './outbox';
import { storable } from './text';

export const AUDIT_TOPIC = 'audit.record';

export const AUDIT_RECORD = z.object({
  id: z.uuid(),
  actorId: z.uuid().nullable(),
  action: storable.text(z.string().min(1).max(100)),
  targetType: storable.text(z.string().min(1).max(50)),
  targetId: storable.text(z.string().max(100)).nullable(),
  /** Before and after values: never personal data, as the entry can never be removed. */
  payload: storable.json(z.record(z.string(), z.unknown())),
  /** What an admin wrote about the target user (a suspension's reason): kept apart, and erased with the user. */
  details: storable
    .json(z.record(z.string(), z.string().max(2000)))
    .nullable()
    .optional(),
  requestId: storable.text(z.string().max(128)).nullable(),
  createdAt: storable.instant(),
  /**
   * The target account's new state, when the entry records a change to it (auth's suspensions,
   * reinstatements and role changes; admin's erasures): admin records it with the entry, in one
   * transaction, so that the entry reaches no subscriber the change has removed (a suspended or demoted
   * admin) before the account's own event does. Not kept with the entry.
   */
  account: ACCOUNT_CHANGED.optional(),
});
export type AuditRecord = z.infer<typeof AUDIT_RECORD>;

/** Writes an audit entry for admin's trail into the outbox, in the caller's transaction, and returns it. */
export async function recordAudit(tx: RawExecutor, service: Service, entry: Omit<AuditRecord, 'id' | 'createdAt'>): Promise<AuditRecord> {
  const record: AuditRecord = { ...entry, id: randomUUID(), createdAt: new Date().toISOString() };
  await enqueue(tx, service, { topic: AUDIT_TOPIC, payload: record, destinations: ['admin'] }, record.id);
  return record;
}
