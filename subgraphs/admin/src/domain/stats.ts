import { Prisma, type ServiceClient } from '@fedstack/shared-db';
import { formatAmount } from '@fedstack/service-kit';
import type { AdminStats } from '../generated/resolvers-types';

interface StatsRow {
  users_by_role: { role: 'USER' | 'ADMIN'; count: number }[];
  users_by_status: { status: 'ACTIVE' | 'SUSPENDED'; count: number }[];
  signups_24h: number;
  signups_30d: number;
  payment_volume: { currency: string; status: AdminStats['paymentVolume'][number]['status']; count: number; amount: string }[];
}

/** Counts and sums computed by PostgreSQL in one statement; no rows are loaded into JavaScript. */
export async function adminStats(db: ServiceClient<'admin'>): Promise<AdminStats> {
  const [row] = await db.$queryRaw<StatsRow[]>`
    WITH people AS (SELECT role, status, created_at FROM auth.users WHERE erased_at IS NULL)
    SELECT
      (SELECT coalesce(json_agg(json_build_object('role', role, 'count', n) ORDER BY role), '[]')
         FROM (SELECT role, count(*)::int AS n FROM people GROUP BY role) r) AS users_by_role,
      (SELECT coalesce(json_agg(json_build_object('status', status, 'count', n) ORDER BY status), '[]')
         FROM (SELECT status, count(*)::int AS n FROM people GROUP BY status) s) AS users_by_status,
      (SELECT count(*)::int FROM people WHERE created_at > now() - interval '24 hours') AS signups_24h,
      (SELECT count(*)::int FROM people WHERE created_at > now() - interval '30 days') AS signups_30d,
      (SELECT coalesce(json_agg(json_build_object('currency', currency, 'status', status, 'count', n, 'amount', total::text)
                                ORDER BY currency, status), '[]')
         FROM (SELECT currency, status, count(*)::int AS n, sum(amount) AS total FROM payments.payments GROUP BY currency, status) v)
        AS payment_volume`;
  const stats = row as StatsRow;
  return {
    usersByRole: stats.users_by_role,
    usersByStatus: stats.users_by_status,
    signupsLast24Hours: stats.signups_24h,
    signupsLast30Days: stats.signups_30d,
    paymentVolume: stats.payment_volume.map((volume) => ({
      ...volume,
      amount: formatAmount(new Prisma.Decimal(volume.amount), volume.currency),
    })),
  };
}
