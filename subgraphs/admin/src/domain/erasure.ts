import { AppError, ErrorCode, type Logger } from '@fedstack/runtime';
import type { ServiceClient } from '@fedstack/shared-db';
import {
  ERASE_COMMAND,
  backoffMs,
  InternalCallError,
  type AccountChanged,
  type BackgroundWorker,
  type ErasureReport,
  type InternalClient,
} from '@fedstack/service-kit';
import { eraseDetailsOf, recordEntry } from './audit';
import { assertTarget, type Actor } from './users';

type AdminDb = ServiceClient<'admin'>;

/**
 * Erasure as a saga (docs/adr/0006-split-databases.md). The request is recorded first; then auth, profile
 * and payments each erase their own part when asked, in that order, and each answers the same if asked
 * again. When all have answered, the request is completed together with its audit entry. An attempt that
 * stops part-way (a service down, this process killed) is taken up again by the worker until it
 * completes, so an erasure once requested ends "done and audited" with no operator action. If auth,
 * the first step, refuses (the last active admin, say), nothing was erased anywhere and the request is
 * dropped: "not done and not audited".
 */

export interface ErasureChangeRow {
  schema: string;
  table: string;
  action: 'deleted' | 'anonymised' | 'tombstoned';
  rows: number;
}

export interface ErasureOutcome {
  userId: string;
  alreadyErased: boolean;
  erasedAt: Date;
  changes: ErasureChangeRow[];
}

interface RequestRow {
  user_id: string;
  requested_by: string;
  request_id: string | null;
  attempts: number;
}

export interface ErasureSettings {
  /** How often the worker looks for interrupted erasures. */
  pollMs: number;
  /** The longest wait between two attempts at one erasure. */
  maxBackoffMs: number;
  /** How long one attempt may hold a request before another may take it over (the steps' time, bounded). */
  leaseMs: number;
}

export function createErasures(db: AdminDb, services: InternalClient, logger: Logger, settings: ErasureSettings) {
  /** Asks each service in turn; returns every part's report, or throws the first failure. */
  async function runSteps(request: RequestRow): Promise<{ erasedAt: Date; changes: ErasureChangeRow[] }> {
    const { user_id: userId, request_id: requestId } = request;
    const call = <R>(service: 'auth' | 'profile' | 'payments', input: unknown) =>
      services.command<R>(service, ERASE_COMMAND, input, requestId ? { requestId } : {});
    const actor = { userId: request.requested_by, requestId: requestId ?? '' };
    const auth = await call<ErasureReport & { account: AccountChanged }>('auth', { actor, userId });
    const parts: [string, ErasureReport][] = [['auth', auth]];
    for (const service of ['profile', 'payments'] as const) parts.push([service, await call<ErasureReport>(service, { userId, account: auth.account })]);
    return {
      erasedAt: new Date(auth.erasedAt),
      changes: parts.flatMap(([schema, report]) => report.changes.map((change) => ({ schema, ...change }))),
    };
  }

  /**
   * Completes the request with admin's own part (what admins wrote about the user) and its audit entry,
   * once: a concurrent attempt that finishes second changes nothing. Answers every service's changes.
   */
  async function complete(request: RequestRow, steps: { erasedAt: Date; changes: ErasureChangeRow[] }) {
    return db.$transaction(async (tx) => {
      const [row] = await tx.$queryRaw<{ completed_at: Date | null; changes: ErasureChangeRow[] | null }[]>`
        SELECT completed_at, changes FROM admin.erasure_requests WHERE user_id = ${request.user_id}::uuid FOR UPDATE`;
      // Another attempt completed it first: its report stands.
      if (row?.completed_at) return { erasedAt: steps.erasedAt, changes: row.changes ?? [] };
      const changes: ErasureChangeRow[] = [
        ...steps.changes,
        { schema: 'admin', table: 'audit_details', action: 'deleted', rows: await eraseDetailsOf(tx, request.user_id) },
      ];
      await tx.$executeRaw`
        UPDATE admin.erasure_requests SET completed_at = now(), changes = ${JSON.stringify(changes)}::jsonb, last_error = NULL
        WHERE user_id = ${request.user_id}::uuid`;
      await recordEntry(
        tx,
        {
          id: crypto.randomUUID(),
          actorId: request.requested_by,
          action: 'user.erase',
          targetType: 'User',
          targetId: request.user_id,
          payload: { changes },
          requestId: request.request_id,
          createdAt: new Date().toISOString(),
        },
        'admin',
      );
      return { erasedAt: steps.erasedAt, changes };
    });
  }

  /** One attempt at a request: completes it, drops it if auth refused it outright, or schedules the next try. */
  async function attempt(request: RequestRow): Promise<{ erasedAt: Date; changes: ErasureChangeRow[] }> {
    try {
      return await complete(request, await runSteps(request));
    } catch (error) {
      // auth is asked first: when it refuses (no such user, the last active admin...), nothing was erased anywhere.
      const refusedByAuth = error instanceof InternalCallError && error.service === 'auth' && error.refused;
      if (refusedByAuth) {
        await db.$executeRaw`DELETE FROM admin.erasure_requests WHERE user_id = ${request.user_id}::uuid AND completed_at IS NULL`;
      } else {
        const delayMs = backoffMs(request.attempts, settings.maxBackoffMs);
        await db.$executeRaw`
          UPDATE admin.erasure_requests SET lease_until = now() + ${delayMs}::int * interval '1 millisecond', last_error = ${(error as Error).message.slice(0, 1000)}
          WHERE user_id = ${request.user_id}::uuid AND completed_at IS NULL`;
        logger.warn({ err: error, userId: request.user_id, attempts: request.attempts }, 'erasure interrupted; it will be finished later');
      }
      throw error;
    }
  }

  /** Erases a user everywhere, or reports that it was done before. */
  async function erase(actor: Actor, requestedId: string): Promise<ErasureOutcome> {
    const userId = assertTarget(requestedId, actor, 'erase');
    const [request] = await db.$queryRaw<(RequestRow & { completed_at: Date | null; requested_at: Date })[]>`
      INSERT INTO admin.erasure_requests (user_id, requested_by, request_id, lease_until, attempts)
      VALUES (${userId}::uuid, ${actor.userId}::uuid, ${actor.requestId}, now() + ${settings.leaseMs}::int * interval '1 millisecond', 1)
      ON CONFLICT (user_id) DO UPDATE SET attempts = admin.erasure_requests.attempts + 1,
        lease_until = CASE WHEN admin.erasure_requests.completed_at IS NULL
                           THEN now() + ${settings.leaseMs}::int * interval '1 millisecond' ELSE admin.erasure_requests.lease_until END
      RETURNING user_id, requested_by, request_id, attempts, completed_at, requested_at`;
    const row = request as RequestRow & { completed_at: Date | null; requested_at: Date };
    if (row.completed_at) return { userId, alreadyErased: true, erasedAt: row.completed_at, changes: [] };
    try {
      return { userId, alreadyErased: false, ...(await attempt(row)) };
    } catch (error) {
      if (!(error instanceof InternalCallError)) throw error;
      if (error.refused) throw error.toClientError();
      // Started and recorded: it will finish without anyone asking again.
      throw new AppError(ErrorCode.SUBGRAPH_UNAVAILABLE, `Erasure started but not finished (${error.message}); it will finish by itself once it can`, {
        unavailableService: error.service,
      });
    }
  }

  /** Takes up interrupted erasures whose lease has run out, one at a time, each claimed as it starts. */
  async function resume(): Promise<void> {
    for (;;) {
      const [request] = await db.$queryRaw<RequestRow[]>`
        UPDATE admin.erasure_requests SET lease_until = now() + ${settings.leaseMs}::int * interval '1 millisecond', attempts = attempts + 1
        WHERE user_id IN (SELECT user_id FROM admin.erasure_requests WHERE completed_at IS NULL AND lease_until <= now()
                          ORDER BY lease_until LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING user_id, requested_by, request_id, attempts`;
      if (!request) return;
      await attempt(request).then(
        () => logger.info({ userId: request.user_id, attempts: request.attempts }, 'interrupted erasure finished'),
        () => undefined,
      );
    }
  }

  const worker: BackgroundWorker = (() => {
    let timer: NodeJS.Timeout | undefined;
    let running: Promise<void> | undefined;
    return {
      start() {
        timer = setInterval(() => {
          running ??= resume()
            .catch((error: unknown) => logger.warn({ err: error }, 'erasure worker pass failed'))
            .finally(() => (running = undefined));
        }, settings.pollMs);
        timer.unref();
      },
      async stop() {
        clearInterval(timer);
        await running;
      },
    };
  })();

  return { erase, worker };
}
