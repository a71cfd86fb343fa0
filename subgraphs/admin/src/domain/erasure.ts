// Erasure as a saga: each service erases its own part in turn, and an interrupted erasure is finished by the worker.
import { AppError, ErrorCode, WalPositions, type Logger, type Service, type ServiceMetrics } from '@fedstack/runtime';
import type { ServiceClient } from '@fedstack/shared-db';
import {
  ERASE_COMMAND,
  InternalCallError,
  ReadinessWatch,
  WorkQueue,
  type AccountChanged,
  type ErasureReport,
  type InternalClient,
  type JobStore,
} from '@fedstack/service-kit';
import { eraseDetailsOf, recordEntry } from './audit';
import { assertTarget, type Actor } from './users';

type AdminDb = ServiceClient<'admin'>;

/**
 * docs/adr/0006-split-databases.md. The request is recorded first; then auth, profile and payments each
 * erase their own part when asked, in that order, and each answers the same if asked again. When all have
 * answered, the request is completed together with its audit entry. An attempt that stops part-way (a
 * service down, this process killed) is taken up again by the worker (a WorkQueue over
 * admin.erasure_requests) with a growing wait, until it completes or, after ERASURE_MAX_ATTEMPTS, is
 * parked for an operator. If auth, the first step, refuses (the last active admin, say), nothing was
 * erased anywhere: the admin who asked is told, and the request is dropped ("not done and not audited");
 * a refusal the worker meets, which nobody hears, parks the request for an operator instead.
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
  /** Run for the admin who asked, now (rather than by the worker), who hears a refusal. */
  asked?: boolean;
}

export interface ErasureSettings {
  /** How often the worker looks for interrupted erasures, and the first wait before it tries one again. */
  pollMs: number;
  /** The longest wait between two attempts at one erasure. */
  maxBackoffMs: number;
  /** Attempts after which an erasure that keeps failing is parked for an operator. */
  maxAttempts: number;
  /** How long one attempt may hold a request before another may take it over (the steps' time, bounded). */
  leaseMs: number;
}

/** How one attempt at a request ended, for the admin who asked (the worker needs no answer). */
type Attempt =
  | { outcome: 'completed'; erasedAt: Date; changes: ErasureChangeRow[]; written: WalPositions; /** Another attempt completed it first. */ before: boolean }
  | { outcome: 'refused'; refusal: InternalCallError };

/**
 * admin.erasure_requests as the work queue sees it: unfinished, unparked requests whose lease has run out.
 * SQL on the pool (ServiceClient's `query`): every poll runs it, and an idle admin need not load Prisma's
 * query compiler.
 */
function erasureRequests(db: AdminDb, leaseMs: number): JobStore<RequestRow> {
  return {
    async claim(room) {
      const { rows } = await db.query<RequestRow>(
        // The last error is cleared while an attempt holds the request: only a request waiting out its backoff has one.
        `UPDATE admin.erasure_requests SET lease_until = now() + $1::int * interval '1 millisecond', attempts = attempts + 1, last_error = NULL
         WHERE user_id IN (SELECT user_id FROM admin.erasure_requests
                           WHERE completed_at IS NULL AND parked_at IS NULL AND lease_until <= now()
                           ORDER BY lease_until LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING user_id, requested_by, request_id, attempts`,
        [leaseMs, room],
      );
      return rows;
    },
    // Completing is the attempt's own last step (with its audit entry), or dropping a refused request.
    complete: async () => undefined,
    async retry(request, delayMs, reason) {
      await db.query(
        `UPDATE admin.erasure_requests SET lease_until = now() + $2::int * interval '1 millisecond', last_error = $3
         WHERE user_id = $1::uuid AND completed_at IS NULL`,
        [request.user_id, Math.round(delayMs), reason],
      );
    },
    async park(request, reason) {
      await db.query(`UPDATE admin.erasure_requests SET parked_at = now(), last_error = $2 WHERE user_id = $1::uuid AND completed_at IS NULL`, [
        request.user_id,
        reason,
      ]);
    },
    async count() {
      const {
        rows: [counts],
      } = await db.query<{ pending: number; parked: number }>(
        `SELECT count(*) FILTER (WHERE parked_at IS NULL)::int AS pending, count(*) FILTER (WHERE parked_at IS NOT NULL)::int AS parked
         FROM admin.erasure_requests WHERE completed_at IS NULL`,
      );
      return counts ?? { pending: 0, parked: 0 };
    },
  };
}

export function createErasures(db: AdminDb, services: InternalClient, context: { logger: Logger; metrics: ServiceMetrics }, settings: ErasureSettings) {
  const { logger } = context;
  /** Asks each service in turn; returns every part's report and where each service's primary had got, or throws the first failure. */
  async function runSteps(request: RequestRow): Promise<{ erasedAt: Date; changes: ErasureChangeRow[]; account: AccountChanged; written: WalPositions }> {
    const { user_id: userId, request_id: requestId } = request;
    const written = new WalPositions();
    const call = <R>(service: 'auth' | 'profile' | 'payments', input: unknown) =>
      services.command<R>(service, ERASE_COMMAND, input, { written, ...(requestId && { requestId }) });
    const actor = { userId: request.requested_by, requestId: requestId ?? '' };
    const auth = await call<ErasureReport & { account: AccountChanged }>('auth', { actor, userId });
    const parts: [string, ErasureReport][] = [['auth', auth]];
    for (const service of ['profile', 'payments'] as const) parts.push([service, await call<ErasureReport>(service, { userId, account: auth.account })]);
    return {
      erasedAt: new Date(auth.erasedAt),
      changes: parts.flatMap(([schema, report]) => report.changes.map((change) => ({ schema, ...change }))),
      account: auth.account,
      written,
    };
  }

  /**
   * Completes the request with admin's own part (what admins wrote about the user) and its audit entry,
   * once: a concurrent attempt that finishes second changes nothing, and says so (`before`). Answers
   * every service's changes.
   */
  async function complete(request: RequestRow, steps: { erasedAt: Date; changes: ErasureChangeRow[]; account: AccountChanged }) {
    return db.$transaction(async (tx) => {
      // Who asked last is read here: an admin who asked again while this attempt ran is the one audited,
      // though this attempt's steps ran on the authority of the one who had asked before.
      const [row] = await tx.$queryRaw<{ completed_at: Date | null; changes: ErasureChangeRow[] | null; requested_by: string; request_id: string | null }[]>`
        SELECT completed_at, changes, requested_by, request_id FROM admin.erasure_requests WHERE user_id = ${request.user_id}::uuid FOR UPDATE`;
      // Another attempt completed it first: its report stands.
      if (row?.completed_at) return { erasedAt: steps.erasedAt, changes: row.changes ?? [], before: true };
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
          actorId: row?.requested_by ?? request.requested_by,
          action: 'user.erase',
          targetType: 'User',
          targetId: request.user_id,
          payload: { changes },
          requestId: row ? row.request_id : request.request_id,
          createdAt: new Date().toISOString(),
          account: steps.account,
        },
        'admin',
      );
      return { erasedAt: steps.erasedAt, changes, before: false };
    });
  }

  /**
   * One attempt at a request: completes it, or, for the admin who asked, drops it if auth refused it
   * outright (nothing was erased anywhere). Any other failure is thrown, for the queue to try again later;
   * a refusal met by the worker too, for the queue to park (an admin demoted since asking, say: the admin
   * was told it would finish, and an operator must hear that it did not).
   */
  async function attempt(request: RequestRow): Promise<Attempt> {
    try {
      const steps = await runSteps(request);
      return { outcome: 'completed', ...(await complete(request, steps)), written: steps.written };
    } catch (error) {
      // auth is asked first: when it refuses (no such user, the last active admin...), nothing was erased anywhere.
      if (!(request.asked && error instanceof InternalCallError && error.service === 'auth' && error.refused)) throw error;
      // Unless another admin has asked again meanwhile, on whose authority it runs from now on.
      await db.$executeRaw`
        DELETE FROM admin.erasure_requests
        WHERE user_id = ${request.user_id}::uuid AND completed_at IS NULL AND requested_by = ${request.requested_by}::uuid`;
      return { outcome: 'refused', refusal: error };
    }
  }

  // Each request's wait grows to ERASURE_MAX_BACKOFF_MS: once a service it could not reach is back, the
  // requests waiting for it are due at once, rather than minutes later with the user's data still there.
  // Which service each waits for, as this process's attempts found (a request is taken up by any process).
  const waitingFor = new Map<string, Service>();
  const back = new ReadinessWatch({
    ready: (service) => services.ready(service),
    pollMs: settings.pollMs,
    onBack: async (service) => {
      const waiting = [...waitingFor].filter(([, on]) => on === service).map(([userId]) => userId);
      // Not one an attempt holds now (its last error cleared): it would run twice at once.
      await db.query(
        `UPDATE admin.erasure_requests SET lease_until = now()
         WHERE user_id = ANY($1::uuid[]) AND completed_at IS NULL AND parked_at IS NULL AND last_error IS NOT NULL AND lease_until > now()`,
        [waiting],
      );
      worker.kick();
    },
    what: 'the erasures',
    logger,
  });

  const worker = new WorkQueue<RequestRow, Attempt>({
    name: 'erasure',
    store: erasureRequests(db, settings.leaseMs),
    async handle(request) {
      waitingFor.delete(request.user_id);
      const result = await attempt(request).catch((error: unknown) => {
        if (error instanceof InternalCallError && error.retryable && !error.refused) {
          waitingFor.set(request.user_id, error.service);
          back.watch(error.service);
        }
        throw error;
      });
      if (result.outcome === 'completed' && request.attempts > 1)
        logger.info({ userId: request.user_id, attempts: request.attempts }, 'interrupted erasure finished');
      return result;
    },
    // A service that refused the command outright (bad input, not allowed, no such user) will refuse it again: parked at once.
    retryable: (error) => !(error instanceof InternalCallError) || (error.retryable && !error.refused),
    describe: (request) => ({ userId: request.user_id }),
    pollMs: settings.pollMs,
    baseBackoffMs: settings.pollMs,
    maxBackoffMs: settings.maxBackoffMs,
    maxAttempts: settings.maxAttempts,
    concurrency: 1,
    logger,
    registry: context.metrics.registry,
  });

  /** Erases a user everywhere, or reports that it was done before. */
  async function erase(actor: Actor, requestedId: string): Promise<ErasureOutcome> {
    const userId = assertTarget(requestedId, actor, 'erase');
    const [request] = await db.$queryRaw<(RequestRow & { completed_at: Date | null; requested_at: Date; erased_at: Date | null })[]>`
      INSERT INTO admin.erasure_requests (user_id, requested_by, request_id, lease_until, attempts)
      VALUES (${userId}::uuid, ${actor.userId}::uuid, ${actor.requestId}, now() + ${settings.leaseMs}::int * interval '1 millisecond', 1)
      ON CONFLICT (user_id) DO UPDATE SET parked_at = NULL,
        -- Asking again for an unfinished erasure, parked or not, gives it a fresh allowance of attempts: one
        -- near the cap would otherwise be parked by this attempt, though its admin is told it will finish.
        attempts = CASE WHEN admin.erasure_requests.completed_at IS NULL THEN 1 ELSE admin.erasure_requests.attempts END,
        -- and runs an unfinished one on this admin's authority: the first may since have lost it, and auth
        -- would refuse an erasure in their name (and drop the request).
        requested_by = CASE WHEN admin.erasure_requests.completed_at IS NULL THEN EXCLUDED.requested_by ELSE admin.erasure_requests.requested_by END,
        request_id = CASE WHEN admin.erasure_requests.completed_at IS NULL THEN EXCLUDED.request_id ELSE admin.erasure_requests.request_id END,
        lease_until = CASE WHEN admin.erasure_requests.completed_at IS NULL
                           THEN now() + ${settings.leaseMs}::int * interval '1 millisecond' ELSE admin.erasure_requests.lease_until END,
        -- held by this attempt now, as by a claim: no longer one waiting out a backoff, which a service back hurries.
        last_error = CASE WHEN admin.erasure_requests.completed_at IS NULL THEN NULL ELSE admin.erasure_requests.last_error END
      RETURNING user_id, requested_by, request_id, attempts, completed_at, requested_at,
        -- When auth erased the account, as the first answer gave it (admin's view of the account holds it).
        (SELECT erased_at FROM admin.account_states WHERE account_states.user_id = erasure_requests.user_id) AS erased_at`;
    const row = request as RequestRow & { completed_at: Date | null; requested_at: Date; erased_at: Date | null };
    if (row.completed_at) return { userId, alreadyErased: true, erasedAt: row.erased_at ?? row.completed_at, changes: [] };
    let result: Attempt;
    try {
      result = await worker.run({ ...row, asked: true });
    } catch (error) {
      if (!(error instanceof InternalCallError)) throw error;
      if (error.refused) throw error.toClientError();
      // Started and recorded: it will finish without anyone asking again.
      throw new AppError(ErrorCode.SUBGRAPH_UNAVAILABLE, `Erasure started but not finished (${error.message}); it will finish by itself once it can`, {
        unavailableService: error.service,
      });
    }
    if (result.outcome === 'refused') throw result.refusal.toClientError();
    actor.written?.merge(result.written);
    // An admin who asked at the same moment as another, whose attempt completed it first, changed nothing:
    // answered as a later call is.
    return { userId, alreadyErased: result.before, erasedAt: result.erasedAt, changes: result.before ? [] : result.changes };
  }

  return {
    erase,
    /** The worker that finishes interrupted erasures, and asks the services they wait for whether they are back. */
    worker: {
      start: () => worker.start(),
      stop: async () => {
        back.stop();
        await worker.stop();
      },
    },
  };
}
