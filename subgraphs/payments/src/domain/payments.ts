import { randomUUID } from 'node:crypto';
import { AppError, ErrorCode, badUserInput, conflict, notFound } from '@fedstack/runtime';
import { Decimal, type PaymentRecord, type PaymentStatus, type PreparedStatement, type RefundRecord, type ServiceClient } from '@fedstack/shared-db';
import {
  type BackgroundWorker,
  batchLoader,
  decodeCursor,
  formatAmount,
  groupedBatchLoader,
  guardAccountWrite,
  isUuid,
  pageSize,
  recordAudit,
  toConnection,
  type Connection,
  type ErasureChange,
  type RawExecutor,
} from '@fedstack/service-kit';
import { assertIdempotencyKey, claimIdempotencyKey, fingerprint } from './idempotency';
import { optionalText, parseAmount, parseCurrency, parseDecimal } from './money';
import { DECLINING_TOKENS, assertTokenFormat, type PaymentProcessor } from './processor';

type PaymentsDb = ServiceClient<'payments'>;

export const DESCRIPTION_MAX = 500;
const PAYMENTS_PAGE = { default: 10, max: 50 };
// Waiting for a pool connection or for a concurrent holder of the same key must not fail the request.
const TRANSACTION = { maxWait: 10_000, timeout: 15_000 };

/** The answer a declined payment gets, the first time and on every retry with its key. */
export function paymentDeclined(payment: PaymentRecord): AppError {
  const reason = Object.values(DECLINING_TOKENS).find((decline) => decline.code === payment.declineCode);
  return new AppError(ErrorCode.PAYMENT_DECLINED, `Payment declined: ${reason?.message ?? payment.declineCode ?? 'declined'}`, {
    paymentId: payment.id,
    declineCode: payment.declineCode,
  });
}

export interface CreatePaymentRequest {
  amount: string;
  currency: string;
  description?: string | null;
  paymentMethodToken: string;
}

/**
 * Charges `userId` once per idempotency key, in three steps so that no charge goes unrecorded: the
 * payment is recorded PENDING (with the key claimed) and committed; the processor charges it under an
 * idempotency key of its own; the payment is settled, SUCCEEDED or FAILED. A crash between the steps
 * leaves a PENDING payment that the client's retry, or the recovery worker, finishes under the same
 * processor key (the payment's id): the processor charges once. Everything is validated before the first step.
 */
export async function createPayment(
  db: PaymentsDb,
  processor: PaymentProcessor,
  userId: string,
  request: CreatePaymentRequest,
  idempotencyKey: string,
): Promise<PaymentRecord> {
  assertIdempotencyKey(idempotencyKey);
  const currency = parseCurrency(request.currency, 'input.currency');
  const amount = parseAmount(request.amount, currency, 'input.amount');
  const description = optionalText(request.description, 'input.description', DESCRIPTION_MAX);
  assertTokenFormat(request.paymentMethodToken, 'input.paymentMethodToken');
  const requestHash = fingerprint({ amount: amount.toFixed(), currency, description, token: request.paymentMethodToken });

  const recorded =
    (await db.sqlTransaction(async (tx) => {
      await guardAccountWrite(tx, 'payments', userId);
      // The key's claim and the PENDING payment in one statement; nothing when the key was claimed before.
      const [created] = await tx.sql<PaymentRow>(CREATE_PENDING, [
        userId,
        idempotencyKey,
        requestHash,
        randomUUID(),
        amount.toFixed(),
        currency,
        description,
        request.paymentMethodToken.slice(-4),
        request.paymentMethodToken,
      ]);
      return created && toPaymentRecord(created);
    })) ??
    // The key was used before: its first request's payment, or IDEMPOTENCY_KEY_REUSED (rare, so on Prisma).
    (await db.$transaction(async (tx) => {
      const claim = await claimIdempotencyKey(tx, { userId, operation: 'createPayment', key: idempotencyKey, requestHash });
      if (claim.kind !== 'replay') throw new Error(`idempotency key ${idempotencyKey} was claimed and is not there`);
      return tx.payment.findUniqueOrThrow({ where: { id: claim.paymentId as string } });
    }, TRANSACTION));
  const payment = recorded.status === 'PENDING' && recorded.pendingToken ? await chargeAndSettle(db, processor, recorded) : recorded;
  if (payment.status === 'FAILED') throw paymentDeclined(payment);
  return payment;
}

/** A payments row under the Prisma model's field names (node-postgres gives numeric as text). */
type PaymentRow = Omit<PaymentRecord, 'amount' | 'refundedAmount'> & { amount: string; refundedAmount: string };

const toPaymentRecord = (row: PaymentRow): PaymentRecord => ({ ...row, amount: new Decimal(row.amount), refundedAmount: new Decimal(row.refundedAmount) });

const PAYMENT_COLUMNS = `id, user_id AS "userId", amount, currency, status::text AS status, description, refunded_amount AS "refundedAmount",
  method_last4 AS "methodLast4", processor_ref AS "processorRef", decline_code AS "declineCode", created_at AS "createdAt",
  updated_at AS "updatedAt", anonymised_at AS "anonymisedAt", pending_token AS "pendingToken", charge_attempts AS "chargeAttempts",
  next_charge_at AS "nextChargeAt"`;

/** Claims the key for the payment and records the payment PENDING, or does nothing if the key is taken. */
const CREATE_PENDING: PreparedStatement = {
  name: 'create_pending_payment',
  text: `WITH claim AS (
           INSERT INTO payments.idempotency_records (user_id, operation, key, request_hash, payment_id)
           VALUES ($1::uuid, 'createPayment', $2, $3, $4::uuid)
           ON CONFLICT (user_id, operation, key) DO NOTHING
           RETURNING id)
         INSERT INTO payments.payments (id, user_id, amount, currency, status, description, method_last4, pending_token)
         SELECT $4::uuid, $1::uuid, $5::numeric, $6, 'PENDING', $7, $8, $9 FROM claim
         RETURNING ${PAYMENT_COLUMNS}`,
};

/**
 * Records a charge's outcome on a payment still PENDING (and a decline's error code on its key, for
 * retries), in one statement; nothing if someone settled it meanwhile.
 */
const SETTLE: PreparedStatement = {
  name: 'settle_payment',
  text: `WITH settled AS (
           UPDATE payments.payments
           SET status = $2::text::payments."PaymentStatus", processor_ref = $3, decline_code = $4, pending_token = NULL,
               next_charge_at = NULL, updated_at = now()
           WHERE id = $1::uuid AND status = 'PENDING'
           RETURNING *),
         declined AS (
           UPDATE payments.idempotency_records SET error_code = $5
           WHERE $5::text IS NOT NULL AND payment_id = $1::uuid AND EXISTS (SELECT 1 FROM settled))
         SELECT ${PAYMENT_COLUMNS} FROM settled`,
};

const PAYMENT_BY_ID: PreparedStatement = { name: 'payment_by_id', text: `SELECT ${PAYMENT_COLUMNS} FROM payments.payments WHERE id = $1::uuid` };

/**
 * Charges a PENDING payment under its processor key and records the outcome, unless someone (the
 * client's retry, the recovery worker) settled it meanwhile: then theirs stands. The processor's
 * idempotency makes the second charge of a payment the first one again.
 */
export async function chargeAndSettle(db: PaymentsDb, processor: PaymentProcessor, payment: PaymentRecord): Promise<PaymentRecord> {
  const charge = await processor.charge({
    amount: payment.amount.toFixed(),
    currency: payment.currency,
    paymentMethodToken: payment.pendingToken as string,
    // One payment row per client key: its id is the charge's key at the processor, whoever retries.
    idempotencyKey: payment.id,
  });
  const [settled] = await db.sql<PaymentRow>(SETTLE, [
    payment.id,
    charge.approved ? 'SUCCEEDED' : 'FAILED',
    charge.approved ? charge.reference : null,
    charge.approved ? null : charge.declineCode,
    charge.approved ? null : ErrorCode.PAYMENT_DECLINED,
  ]);
  const [current] = settled ? [settled] : await db.sql<PaymentRow>(PAYMENT_BY_ID, [payment.id]);
  if (!current) throw new Error(`payment ${payment.id} is gone`);
  return toPaymentRecord(current);
}

/**
 * Finishes payments left PENDING by a crash between recording and settling: those older than
 * `afterMs` (a request may still be charging younger ones), a few at a time, each claimed for a while
 * so that two workers never charge one at once. A processor that cannot be reached is tried again later.
 */
export function pendingPaymentRecovery(
  db: PaymentsDb,
  processor: PaymentProcessor,
  options: { pollMs: number; afterMs: number; logger: { info(object: object, message: string): void; warn(object: object, message: string): void } },
): BackgroundWorker {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const round = async () => {
    const due = await db.$queryRaw<{ id: string }[]>`
      UPDATE payments.payments SET next_charge_at = now() + interval '1 minute', charge_attempts = charge_attempts + 1
      WHERE id IN (
        SELECT id FROM payments.payments
        WHERE status = 'PENDING' AND pending_token IS NOT NULL
          AND created_at < now() - ${options.afterMs}::int * interval '1 millisecond'
          AND (next_charge_at IS NULL OR next_charge_at <= now())
        ORDER BY created_at LIMIT 10 FOR UPDATE SKIP LOCKED)
      RETURNING id`;
    for (const { id } of due) {
      const payment = await db.payment.findUniqueOrThrow({ where: { id } });
      try {
        const settled = await chargeAndSettle(db, processor, payment);
        options.logger.info({ paymentId: id, status: settled.status }, 'pending payment finished after an interruption');
      } catch (error) {
        options.logger.warn({ paymentId: id, err: error }, 'pending payment could not be finished yet; trying again later');
      }
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = round()
        .catch((error: unknown) => options.logger.warn({ err: error }, 'pending payment recovery failed; trying again later'))
        .finally(schedule);
    }, options.pollMs);
    timer.unref();
  };
  return {
    start: schedule,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

/** A refund with its payment's currency, which its amount is formatted in. */
export type RefundWithCurrency = RefundRecord & { currency: string };

export interface RefundRequest {
  paymentId: string;
  amount: string;
  reason?: string | null;
}

interface LockedPayment {
  id: string;
  amount: Decimal;
  refunded_amount: Decimal;
  currency: string;
  status: PaymentStatus;
}

/**
 * Refunds part or all of a payment (the caller has checked that an admin asks). The payment row is
 * locked for the whole transaction, so racing refunds are applied one after another and together never
 * exceed the amount (a CHECK constraint backs this up). The refund, the payment's new state and the
 * audit entry (in the outbox, for admin's trail) commit together.
 */
export async function refundPayment(
  db: PaymentsDb,
  admin: { userId: string; requestId: string },
  request: RefundRequest,
  idempotencyKey: string,
): Promise<RefundWithCurrency> {
  assertIdempotencyKey(idempotencyKey);
  if (!isUuid(request.paymentId)) throw badUserInput('input.paymentId', 'must be a UUID');
  const reason = optionalText(request.reason, 'input.reason', DESCRIPTION_MAX);
  const requestHash = fingerprint({
    paymentId: request.paymentId.toLowerCase(),
    amount: parseDecimal(request.amount, 'input.amount').toFixed(),
    reason,
  });

  return db.$transaction(async (tx) => {
    const claim = await claimIdempotencyKey(tx, { userId: admin.userId, operation: 'refundPayment', key: idempotencyKey, requestHash });
    if (claim.kind === 'replay') {
      const refund = await tx.refund.findUniqueOrThrow({ where: { id: claim.refundId as string }, include: { payment: { select: { currency: true } } } });
      const { payment, ...rest } = refund;
      return { ...rest, currency: payment.currency };
    }
    const [payment] = await tx.$queryRaw<LockedPayment[]>`
        SELECT id, amount, refunded_amount, currency, status::text AS status
        FROM payments.payments WHERE id = ${request.paymentId}::uuid FOR UPDATE`;
    if (!payment) throw notFound(`No payment with id ${request.paymentId}`);
    if (payment.status !== 'SUCCEEDED' && payment.status !== 'PARTIALLY_REFUNDED') {
      throw conflict(`Only succeeded payments can be refunded; this one is ${payment.status}`);
    }
    const refundable = payment.amount.minus(payment.refunded_amount);
    const amount = parseAmount(request.amount, payment.currency, 'input.amount', refundable);
    const refundedAfter = payment.refunded_amount.plus(amount);
    const statusAfter: PaymentStatus = refundedAfter.equals(payment.amount) ? 'REFUNDED' : 'PARTIALLY_REFUNDED';
    const refund = await tx.refund.create({ data: { paymentId: payment.id, amount, reason, createdById: admin.userId } });
    await tx.payment.update({ where: { id: payment.id }, data: { refundedAmount: refundedAfter, status: statusAfter } });
    await tx.idempotencyRecord.update({ where: { id: claim.recordId }, data: { refundId: refund.id } });
    await recordAudit(tx, 'payments', {
      actorId: admin.userId,
      action: 'payment.refund',
      targetType: 'Payment',
      targetId: payment.id,
      requestId: admin.requestId,
      payload: {
        refundId: refund.id,
        amount: amount.toFixed(),
        currency: payment.currency,
        before: { status: payment.status, refundedAmount: payment.refunded_amount.toFixed() },
        after: { status: statusAfter, refundedAmount: refundedAfter.toFixed() },
      },
    });
    return { ...refund, currency: payment.currency };
  }, TRANSACTION);
}

/** Loads payments by id: one statement per batch. */
export function createPaymentLoader(db: PaymentsDb) {
  return batchLoader<string, PaymentRecord>(
    (ids) => db.payment.findMany({ where: { id: { in: ids.filter(isUuid) } } }),
    (payment) => payment.id,
    null,
  );
}

/** Loads every refund of many payments, oldest first: one statement per batch. */
export function createRefundsLoader(db: PaymentsDb) {
  return groupedBatchLoader<string, RefundRecord>(
    (paymentIds) => db.refund.findMany({ where: { paymentId: { in: [...paymentIds] } }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] }),
    (refund) => refund.paymentId,
  );
}

export interface MoneyTotal {
  userId: string;
  currency: string;
  amount: Decimal;
}

/** Per user and currency, succeeded payments minus refunds; prepared, as most requests ask for totals. */
const TOTALS_BY_USER: PreparedStatement = {
  name: 'totals_by_user',
  text: `SELECT user_id AS "userId", currency, sum(amount - refunded_amount) AS amount
         FROM payments.payments
         WHERE user_id = ANY($1::uuid[]) AND status IN ('SUCCEEDED', 'PARTIALLY_REFUNDED', 'REFUNDED')
         GROUP BY user_id, currency ORDER BY currency`,
};

/** Per user and currency, succeeded payments minus refunds, summed by PostgreSQL: one statement per batch. */
export function createTotalsLoader(db: PaymentsDb) {
  return groupedBatchLoader<string, MoneyTotal>(
    async (userIds) =>
      (await db.sql<{ userId: string; currency: string; amount: string }>(TOTALS_BY_USER, [userIds.filter(isUuid)])).map((total) => ({
        ...total,
        amount: new Decimal(total.amount),
      })),
    (total) => total.userId,
  );
}

export interface PaymentPageArgs {
  first?: number | null;
  after?: string | null;
  status?: PaymentStatus | null;
}

/**
 * Pages of payments, newest first, for many users at once: a window function ranks each user's
 * payments, so the page for every user in a batch comes from one statement.
 */
export function createPaymentPageLoader(db: PaymentsDb, args: PaymentPageArgs) {
  const first = pageSize(args.first, PAYMENTS_PAGE);
  const after = args.after ? decodeCursor(args.after) : null;
  return groupedBatchLoader<string, PaymentRecord>(
    async (userIds) => {
      if (first === 0) return [];
      const rows = await db.sql<PaymentRow>(PAYMENT_PAGES, [
        userIds.filter(isUuid),
        args.status ?? null,
        after?.createdAt ?? null,
        after?.id ?? null,
        first + 1,
      ]);
      return rows.map(toPaymentRecord);
    },
    (payment) => payment.userId,
  );
}

/** Each user's page of payments, ranked by a window function; prepared, as most requests read one. */
const PAYMENT_PAGES: PreparedStatement = {
  name: 'payment_pages',
  text: `SELECT "id", "userId", "amount", "currency", "status", "description", "refundedAmount", "methodLast4",
                "processorRef", "declineCode", "createdAt", "updatedAt", "anonymisedAt"
         FROM (
           SELECT p.id AS "id", p.user_id AS "userId", p.amount AS "amount", p.currency AS "currency", p.status::text AS "status",
                  p.description AS "description", p.refunded_amount AS "refundedAmount", p.method_last4 AS "methodLast4",
                  p.processor_ref AS "processorRef", p.decline_code AS "declineCode", p.created_at AS "createdAt",
                  p.updated_at AS "updatedAt", p.anonymised_at AS "anonymisedAt",
                  row_number() OVER (PARTITION BY p.user_id ORDER BY p.created_at DESC, p.id DESC) AS rank
           FROM payments.payments p
           WHERE p.user_id = ANY($1::uuid[])
             AND ($2::text IS NULL OR p.status::text = $2::text)
             AND ($3::timestamptz IS NULL OR (p.created_at, p.id) < ($3::timestamptz, $4::uuid))
         ) ranked
         WHERE rank <= $5::int
         ORDER BY "userId", rank`,
};

/** Turns one user's fetched rows (first + 1 at most) into a connection. */
export function paymentConnection(rows: PaymentRecord[], args: PaymentPageArgs): Connection<PaymentRecord> {
  return toConnection(rows, pageSize(args.first, PAYMENTS_PAGE), Boolean(args.after));
}

/**
 * payments' part of an erasure (inside the erase command's transaction): payments and refunds stay for
 * accounting, without the payments' description or card digits and the refunds' reasons (what an admin
 * wrote about the user); the idempotency records, which hold the client's keys, go. A charge still in
 * flight keeps its token until it settles, which clears it, so that it is finished rather than lost.
 */
export async function erasePayments(tx: RawExecutor, userId: string): Promise<ErasureChange[]> {
  return [
    {
      table: 'payments',
      action: 'anonymised',
      rows: await tx.$executeRawUnsafe(
        `UPDATE payments.payments SET description = NULL, method_last4 = NULL, anonymised_at = now(), updated_at = now() WHERE user_id = $1::uuid`,
        userId,
      ),
    },
    {
      table: 'refunds',
      action: 'anonymised',
      rows: await tx.$executeRawUnsafe(
        `UPDATE payments.refunds SET reason = NULL WHERE reason IS NOT NULL AND payment_id IN (SELECT id FROM payments.payments WHERE user_id = $1::uuid)`,
        userId,
      ),
    },
    {
      table: 'idempotency_records',
      action: 'deleted',
      rows: await tx.$executeRawUnsafe('DELETE FROM payments.idempotency_records WHERE user_id = $1::uuid', userId),
    },
  ];
}

/** payments' part of the admin dashboard: volume per currency and status, summed by PostgreSQL. */
export async function paymentVolume(db: PaymentsDb): Promise<{ currency: string; status: PaymentStatus; count: number; amount: string }[]> {
  const rows = await db.$queryRaw<{ currency: string; status: PaymentStatus; count: number; amount: Decimal }[]>`
    SELECT currency, status::text AS status, count(*)::int AS count, sum(amount) AS amount
    FROM payments.payments GROUP BY currency, status ORDER BY currency, status`;
  return rows.map((row) => ({ ...row, amount: formatAmount(row.amount, row.currency) }));
}
