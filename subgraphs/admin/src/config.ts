// What admin reads besides a subgraph's settings: how long its erasure worker keeps trying, and its subscriptions' limits.
import { integer, readSettings, setting } from '@fedstack/runtime';
import {
  SUBSCRIPTION_SETTINGS,
  loadServiceConfig,
  loadSubscriptionLimits,
  serviceSettings,
  type ServiceConfig,
  type SubscriptionLimits,
} from '@fedstack/service-kit';

export interface AdminConfig extends ServiceConfig {
  erasure: { maxBackoffMs: number; maxAttempts: number };
  /** auditEntryAdded's WebSocket connections (the gateway's). */
  subscriptions: SubscriptionLimits;
}

/** What admin reads besides a subgraph's settings. */
export const ADMIN_SETTINGS = {
  ERASURE_MAX_BACKOFF_MS: setting(integer(600_000, { max: 24 * 3600 * 1000 }), 'the longest wait between two attempts to finish an interrupted erasure'),
  ERASURE_MAX_ATTEMPTS: setting(
    integer(200, { max: 1_000_000 }),
    'attempts after which an erasure that keeps failing is parked for an operator (at the default backoff, about 33 hours); asking again un-parks it',
  ),
};

/** Every setting admin reads, for the settings table. */
export function adminSettings(production = false) {
  return { ...serviceSettings('admin', production), ...ADMIN_SETTINGS, ...SUBSCRIPTION_SETTINGS };
}

/** The admin process's settings, read once at start. */
export function loadAdminConfig(env: NodeJS.ProcessEnv = process.env): AdminConfig {
  const settings = readSettings(env, ADMIN_SETTINGS);
  return {
    ...loadServiceConfig('admin', env),
    erasure: { maxBackoffMs: settings.ERASURE_MAX_BACKOFF_MS, maxAttempts: settings.ERASURE_MAX_ATTEMPTS },
    subscriptions: loadSubscriptionLimits(env),
  };
}
