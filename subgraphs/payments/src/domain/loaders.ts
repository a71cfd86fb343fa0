// The batched reads behind payments' fields: payments and refunds by id, totals and pages per user. Each
// is a prepared statement run through the request's reads: on a replica that has the client's writes, else
// on the primary (docs/adr/0012-read-replicas.md).
import { Decimal, type PaymentRecord, type PaymentStatus, type PreparedStatement, type RefundRecord } from '@fedstack/shared-db';
import { batchLoader, decodeCursor, groupedBatchLoader, isUuid, pageSize, toConnection, type Connection, type StaleRead } from '@fedstack/service-kit';
import { PAYMENT_COLUMNS, toPaymentRecord, type PaymentRow } from './rows';

const PAYMENTS_PAGE = { default: 10, max: 50 };

const PAYMENTS_BY_ID: PreparedStatement = { name: 'payments_by_id', text: `SELECT ${PAYMENT_COLUMNS} FROM payments.payments WHERE id = ANY($1::uuid[])` };

/** Loads payments by id: one statement per batch. */
export function createPaymentLoader(read: StaleRead) {
  return batchLoader<string, PaymentRecord>(
    async (ids) => (await read<PaymentRow>(PAYMENTS_BY_ID, [ids.filter(isUuid)])).map(toPaymentRecord),
    (payment) => payment.id,
    null,
  );
}

const REFUNDS_BY_PAYMENT: PreparedStatement = {
  name: 'refunds_by_payment',
  text: `SELECT id, payment_id AS "paymentId", amount, reason, created_by_id AS "createdById", created_at AS "createdAt"
         FROM payments.refunds WHERE payment_id = ANY($1::uuid[]) ORDER BY created_at, id`,
};

/** Loads every refund of many payments, oldest first: one statement per batch. */
export function createRefundsLoader(read: StaleRead) {
  return groupedBatchLoader<string, RefundRecord>(
    async (paymentIds) =>
      (await read<Omit<RefundRecord, 'amount'> & { amount: string }>(REFUNDS_BY_PAYMENT, [paymentIds.filter(isUuid)])).map((refund) => ({
        ...refund,
        amount: new Decimal(refund.amount),
      })),
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
export function createTotalsLoader(read: StaleRead) {
  return groupedBatchLoader<string, MoneyTotal>(
    async (userIds) =>
      (await read<{ userId: string; currency: string; amount: string }>(TOTALS_BY_USER, [userIds.filter(isUuid)])).map((total) => ({
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
export function createPaymentPageLoader(read: StaleRead, args: PaymentPageArgs) {
  const first = pageSize(args.first, PAYMENTS_PAGE);
  const after = args.after ? decodeCursor(args.after) : null;
  return groupedBatchLoader<string, PaymentRecord>(
    // With first: 0 too: the row after the page says whether there is a next one.
    async (userIds) => {
      const rows = await read<PaymentRow>(PAYMENT_PAGES, [userIds.filter(isUuid), args.status ?? null, after?.createdAt ?? null, after?.id ?? null, first + 1]);
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
