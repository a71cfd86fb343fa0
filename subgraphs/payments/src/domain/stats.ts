// payments' part of the admin dashboard: volume per currency and status.
import type { Decimal, PaymentStatus, ServiceClient } from '@fedstack/shared-db';
import { formatAmount } from '@fedstack/service-kit';

/** payments' part of the admin dashboard: volume per currency and status, summed by PostgreSQL. */
export async function paymentVolume(db: ServiceClient<'payments'>): Promise<{ currency: string; status: PaymentStatus; count: number; amount: string }[]> {
  const rows = await db.$queryRaw<{ currency: string; status: PaymentStatus; count: number; amount: Decimal }[]>`
    SELECT currency, status::text AS status, count(*)::int AS count, sum(amount) AS amount
    FROM payments.payments GROUP BY currency, status ORDER BY currency, status`;
  return rows.map((row) => ({ ...row, amount: formatAmount(row.amount, row.currency) }));
}
