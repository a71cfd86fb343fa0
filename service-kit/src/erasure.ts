// Erasure is a saga that admin runs (docs/adr/0006-split-databases.md): it asks each service that holds a
// user's data to erase its own part, in turn, until all have answered. Every part is idempotent and
// remembers what it did, so an attempt repeated after a crash answers the same and changes nothing more.
import { z } from 'zod';
import type { Service } from '@fedstack/runtime';
import { ACCOUNT_CHANGED, lockAccountForErasure, recordAccountChange, type RawQuerier } from './accounts';
import { UUID_ID, canonicalId } from './ids';
import { command, type CommandHandler } from './internal-api';

/** One kind of change an erasure made to one table of a service. */
export interface ErasureChange {
  table: string;
  action: 'deleted' | 'anonymised' | 'tombstoned';
  rows: number;
}

/** What a service answers when asked to erase its part of a user. */
export interface ErasureReport {
  /** True when this service had erased its part before; the changes are those of that first time. */
  alreadyErased: boolean;
  erasedAt: string;
  changes: ErasureChange[];
}

/** The command every service that holds personal data answers, under this name. */
export const ERASE_COMMAND = 'eraseUser';

/**
 * What admin sends with it: the user, and (to every service but auth) the erased account's state, from
 * auth: that user's, erased. Any other state (another user's, one not erased) would be written into this
 * service's view of accounts with the version admin gave it, and could hide auth's later changes there.
 */
export const ERASE_INPUT = z
  .object({
    userId: UUID_ID,
    account: ACCOUNT_CHANGED,
  })
  .refine(({ userId, account }) => canonicalId(account.userId) === userId && account.erasedAt !== null, {
    message: 'account must be the erased state of the user being erased, as auth answered it',
    path: ['account'],
  });

interface TransactionalQuerier extends RawQuerier {
  $transaction<R>(work: (tx: RawQuerier) => Promise<R>, options?: { maxWait?: number; timeout?: number }): Promise<R>;
}

/**
 * The erase command of a service that keeps a view of accounts: in one transaction, `erase` removes the
 * service's personal data, the view records the account as erased (so that the user's tokens are refused
 * here from this moment, whatever auth's events are doing), and the service's `erasures` table keeps the
 * report for any repeat. `ahead`, when given, first does what may be done in parts that each commit (a
 * user's many payments, once the view has recorded the erasure), so that the transaction fits in the
 * caller's wait.
 */
export function erasureCommand(
  service: Service,
  db: TransactionalQuerier,
  erase: (tx: RawQuerier, userId: string) => Promise<ErasureChange[]>,
  ahead?: (db: RawQuerier, userId: string) => Promise<void>,
): CommandHandler<never> {
  return command({
    callers: ['admin'],
    input: ERASE_INPUT,
    run: async ({ userId, account }): Promise<ErasureReport> => {
      if (ahead) {
        // The view records the account erased first: the user's tokens are refused here while the parts
        // ahead commit, and the events those make reach no subscription of theirs.
        await db.$transaction((tx) => recordAccountChange(service, tx, account));
        await ahead(db, userId);
      }
      return db.$transaction(
        async (tx) => {
          // Writes about the user in flight finish first; two erasures of the user queue.
          await lockAccountForErasure(tx, service, userId);
          const [done] = await tx.$queryRawUnsafe<{ erased_at: Date; changes: ErasureChange[] }[]>(
            `SELECT erased_at, changes FROM "${service}".erasures WHERE user_id = $1::uuid`,
            userId,
          );
          if (done) return { alreadyErased: true, erasedAt: done.erased_at.toISOString(), changes: done.changes };
          await recordAccountChange(service, tx, account);
          const changes = await erase(tx, userId);
          const erasedAt = new Date();
          await tx.$executeRawUnsafe(
            `INSERT INTO "${service}".erasures (user_id, erased_at, changes) VALUES ($1::uuid, $2::timestamptz, $3::jsonb)`,
            userId,
            erasedAt,
            JSON.stringify(changes),
          );
          return { alreadyErased: false, erasedAt: erasedAt.toISOString(), changes };
        },
        { maxWait: 10_000, timeout: 30_000 },
      );
    },
  });
}
