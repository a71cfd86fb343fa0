// The benchmark's settings: warm-up, rounds, connections, gateway workers, the baseline commit and the database layouts.
import { z } from 'zod';
import { integer, setting } from '@fedstack/runtime';
import type { DatabaseLayout } from '@fedstack/shared-db';

const LAYOUTS: readonly DatabaseLayout[] = ['shared', 'split'];

/** A comma-separated list of database layouts; both when unset, none (the gateway-only rows alone) for `none`. */
function layouts(): z.ZodType<DatabaseLayout[], string | undefined> {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined) return [...LAYOUTS];
      if (raw.trim() === 'none') return [];
      const list = raw.split(',').map((entry) => entry.trim());
      const unknown = list.filter((entry) => !LAYOUTS.includes(entry as DatabaseLayout));
      if (list.length === 0 || unknown.length > 0 || new Set(list).size < list.length) {
        ctx.addIssue({ code: 'custom', message: `must be a comma-separated list of ${LAYOUTS.join(', ')}, each once (got "${raw}")` });
        return z.NEVER;
      }
      return list as DatabaseLayout[];
    });
}

/** A comma-separated list of positive whole numbers; `none` for none. */
function counts(): z.ZodType<number[], string | undefined> {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined) return [1000, 5000];
      if (raw.trim() === 'none') return [];
      const list = raw.split(',').map((entry) => Number(entry.trim()));
      if (list.some((count) => !Number.isInteger(count) || count < 1)) {
        ctx.addIssue({ code: 'custom', message: `must be a comma-separated list of whole numbers, or "none" (got "${raw}")` });
        return z.NEVER;
      }
      return list;
    });
}

/**
 * Concurrent clients at most. A request comes again: a user's same read 300 requests later (each user makes
 * one kind of request), the same admin list 810 later in its own row and 1,620 in the mix (mix.ts); a gateway that shares identical requests in
 * flight answers two with one call, flattering its figures. Simulated with the rows' latency tails (p99 up
 * to 2.65× p50), no request has its twin in flight at 64 connections (mix.test.ts holds twins 4 × as many
 * requests apart). At 81, with the admin list's 81 variants of before, 44 % of the admin-list row's did.
 */
export const MAX_CONNECTIONS = 64;

/** What `npm run bench` reads. */
export const BENCH_SETTINGS = {
  BENCH_WARMUP_SECONDS: setting(integer(3, { max: 600 }), 'benchmark: warm-up before each row'),
  BENCH_ROUNDS: setting(integer(3, { max: 100 }), 'benchmark: measured rounds per row (the median is reported)'),
  BENCH_ROUND_SECONDS: setting(integer(8, { max: 3600 }), 'benchmark: length of one round'),
  BENCH_CONNECTIONS: setting(
    integer(32, { max: MAX_CONNECTIONS }),
    `benchmark: concurrent clients (at most ${MAX_CONNECTIONS}, so that no two of the same request are in flight together)`,
  ),
  // One: the whole stack, the load generator and PostgreSQL share this machine's cores, and a second worker
  // competed for them (2 workers on 2 cores: 203–248 req/s at 2.75–3.17 gateway CPU-ms per request; 1: 275–291
  // at 1.67–1.78). The mix is also measured with one worker per core, in a row of its own.
  BENCH_GATEWAY_WORKERS: setting(integer(1, { max: 64 }), "benchmark: gateway workers (ours and the peers')"),
  BENCH_PROFILE_SECONDS: setting(integer(20, { max: 3600 }), 'benchmark: how long `npm run bench:profile` profiles the mix'),
  BENCH_BASELINE: setting(
    z
      .string()
      .regex(/^(none|[0-9a-f]{7,40})$/, 'must be a commit hash or "none"')
      .default('c114295'),
    'benchmark: the commit the baseline column measures (built once in a git worktree), or `none`',
    '`c114295`, the commit before the second performance round',
  ),
  BENCH_SUBSCRIBERS: setting(
    counts(),
    'benchmark: the WebSocket subscriber counts of the subscriptions section, in turn (`none`: no subscriptions section)',
    '`1000,5000`',
  ),
  BENCH_SUBSCRIPTION_EVENTS_PER_SECOND: setting(
    integer(500, { max: 100_000 }),
    'benchmark: changes committed per second while subscribers listen (two per payment)',
  ),
  BENCH_SUBSCRIPTION_SECONDS: setting(integer(15, { max: 3600 }), 'benchmark: how long payments are committed in each subscriptions row'),
  BENCH_LAYOUTS: setting(layouts(), 'benchmark: the database layouts to run the stack on, in turn (`none`: the gateway-only rows alone)', '`shared,split`'),
};
