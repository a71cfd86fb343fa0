// auth's part of the admin dashboard: users counted by PostgreSQL in one statement (erased users are not).
import type { PreparedStatement } from '@fedstack/shared-db';
import type { StaleRead } from '@fedstack/service-kit';
import type { RoleCount, StatusCount } from '../generated/resolvers-types';

const USER_STATS: PreparedStatement = {
  name: 'user_stats',
  text: `WITH people AS (SELECT role, status, created_at FROM auth.users WHERE erased_at IS NULL)
         SELECT
           (SELECT coalesce(json_agg(json_build_object('role', role, 'count', n) ORDER BY role), '[]')
              FROM (SELECT role, count(*)::int AS n FROM people GROUP BY role) r) AS by_role,
           (SELECT coalesce(json_agg(json_build_object('status', status, 'count', n) ORDER BY status), '[]')
              FROM (SELECT status, count(*)::int AS n FROM people GROUP BY status) s) AS by_status,
           (SELECT count(*)::int FROM people WHERE created_at > now() - interval '24 hours') AS signups_24h,
           (SELECT count(*)::int FROM people WHERE created_at > now() - interval '30 days') AS signups_30d`,
};

/** The figures, from a replica when one has the client's writes. */
export async function userStats(read: StaleRead): Promise<{
  usersByRole: RoleCount[];
  usersByStatus: StatusCount[];
  signupsLast24Hours: number;
  signupsLast30Days: number;
}> {
  const [row] = await read<{ by_role: RoleCount[]; by_status: StatusCount[]; signups_24h: number; signups_30d: number }>(USER_STATS, []);
  const stats = row as { by_role: RoleCount[]; by_status: StatusCount[]; signups_24h: number; signups_30d: number };
  return { usersByRole: stats.by_role, usersByStatus: stats.by_status, signupsLast24Hours: stats.signups_24h, signupsLast30Days: stats.signups_30d };
}
