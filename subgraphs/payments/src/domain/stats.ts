// payments' part of the admin dashboard: volume per currency and status.
import { Decimal, type PaymentStatus, type PreparedStatement } from '@fedstack/shared-db';
import { formatAmount, type StaleRead } from '@fedstack/service-kit';

const PAYMENT_VOLUME: PreparedStatement = {
  name: 'payment_volume',
  text: `SELECT currency, status::text AS status, count(*)::int AS count, sum(amount) AS amount
         FROM payments.payments GROUP BY currency, status ORDER BY currency, status`,
};

/** payments' part of the admin dashboard: volume per currency and status, summed by PostgreSQL (on a replica when one has the client's writes). */
export async function paymentVolume(read: StaleRead): Promise<{ currency: string; status: PaymentStatus; count: number; amount: string }[]> {
  const rows = await read<{ currency: string; status: PaymentStatus; count: number; amount: string }>(PAYMENT_VOLUME, []);
  return rows.map((row) => ({ ...row, amount: formatAmount(new Decimal(row.amount), row.currency) }));
}
