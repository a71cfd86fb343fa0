// payments' settings: the recovery worker's timing and the simulated processor's delay.
import { integer, readSettings, setting } from '@fedstack/runtime';
import {
  SUBSCRIPTION_SETTINGS,
  loadServiceConfig,
  loadSubscriptionLimits,
  serviceSettings,
  type ServiceConfig,
  type SubscriptionLimits,
} from '@fedstack/service-kit';
import type { RecoverySettings } from './domain/recovery';

export interface PaymentsConfig extends ServiceConfig {
  /** The simulated processor's answer time, in milliseconds (demos and the crash tests). */
  processorDelayMs: number;
  recovery: RecoverySettings;
  /** paymentUpdated's WebSocket connections (the gateway's). */
  subscriptions: SubscriptionLimits;
}

/** What payments reads besides a subgraph's settings. */
export const PAYMENTS_SETTINGS = {
  PAYMENTS_RECOVERY_AFTER_MS: setting(
    integer(30_000, { min: 0, max: 24 * 3600 * 1000 }),
    'how old a PENDING payment must be before the recovery worker finishes it (a request may still be charging a younger one)',
  ),
  PAYMENTS_RECOVERY_POLL_MS: setting(
    integer(5000, { max: 3_600_000 }),
    'how often payments looks for PENDING payments to finish, and the first wait before it tries one again',
  ),
  PAYMENTS_RECOVERY_MAX_BACKOFF_MS: setting(integer(600_000, { max: 24 * 3600 * 1000 }), 'the longest wait between two attempts to finish one payment'),
  PAYMENTS_RECOVERY_MAX_ATTEMPTS: setting(
    integer(20, { max: 1_000_000 }),
    'attempts after which a PENDING payment the recovery worker cannot finish is parked for an operator (docs/operations.md)',
  ),
  PAYMENTS_PROCESSOR_TIMEOUT_MS: setting(
    integer(30_000, { min: 100, max: 600_000 }),
    'how long the recovery worker lets one charge take before it gives it up and tries again later; its claim on the payment lasts twice as long, so that no other worker charges it meanwhile',
  ),
  PAYMENTS_PROCESSOR_DELAY_MS: setting(integer(0, { min: 0, max: 600_000 }), "the simulated processor's answer time (demos and tests)"),
};

/** Every setting payments reads, for the settings table. */
export function paymentsSettings(production = false) {
  return { ...serviceSettings('payments', production), ...PAYMENTS_SETTINGS, ...SUBSCRIPTION_SETTINGS };
}

/** The payments process's settings, read once at start. */
export function loadPaymentsConfig(env: NodeJS.ProcessEnv = process.env): PaymentsConfig {
  const settings = readSettings(env, PAYMENTS_SETTINGS);
  return {
    ...loadServiceConfig('payments', env),
    processorDelayMs: settings.PAYMENTS_PROCESSOR_DELAY_MS,
    recovery: {
      pollMs: settings.PAYMENTS_RECOVERY_POLL_MS,
      afterMs: settings.PAYMENTS_RECOVERY_AFTER_MS,
      maxBackoffMs: settings.PAYMENTS_RECOVERY_MAX_BACKOFF_MS,
      maxAttempts: settings.PAYMENTS_RECOVERY_MAX_ATTEMPTS,
      chargeTimeoutMs: settings.PAYMENTS_PROCESSOR_TIMEOUT_MS,
    },
    subscriptions: loadSubscriptionLimits(env),
  };
}
