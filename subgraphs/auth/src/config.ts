import { ConfigError, integer, readSettings, secretSetting, setting, text } from '@fedstack/runtime';
import { loadServiceConfig, serviceSettings, type ServiceConfig } from '@fedstack/service-kit';

export interface LoginThrottlePolicy {
  /** Failed logins for one email before it is locked. */
  maxFailuresPerAccount: number;
  /** Failed logins from one client address before it is locked. */
  maxFailuresPerAddress: number;
  /** Failures older than this no longer count, in seconds. */
  windowSeconds: number;
  /** How long a locked account or address waits, in seconds. */
  lockoutSeconds: number;
}

export interface AuthConfig extends ServiceConfig {
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  /** The Ed25519 private key as PKCS#8 PEM or a private JWK, and the setting it came from; required in production. */
  signingKey?: { value: string; setting: string };
  throttle: LoginThrottlePolicy;
}

/** What auth reads besides a subgraph's settings. */
export const AUTH_SETTINGS = {
  JWT_PRIVATE_KEY: setting(text(), "auth's Ed25519 signing key (PKCS#8 PEM or JWK); required in production", 'generated in `.data/keys` outside production'),
  JWT_PRIVATE_KEY_FILE: setting(text(), '…or a file holding the signing key (a container secret)'),
  ACCESS_TOKEN_TTL_SECONDS: setting(integer(15 * 60, { max: 24 * 3600 }), 'access token lifetime', '900'),
  REFRESH_TOKEN_TTL_SECONDS: setting(integer(30 * 24 * 3600, { max: 365 * 24 * 3600 }), 'refresh token lifetime', '2592000'),
  LOGIN_MAX_FAILURES_PER_ACCOUNT: setting(integer(5, { max: 1000 }), 'failed logins for one email before it is locked', '5'),
  LOGIN_MAX_FAILURES_PER_ADDRESS: setting(integer(20, { max: 100_000 }), 'failed logins from one client address before it is locked', '20'),
  LOGIN_FAILURE_WINDOW_SECONDS: setting(integer(15 * 60, { max: 7 * 24 * 3600 }), 'how long a failed login counts', '900'),
  LOGIN_LOCKOUT_SECONDS: setting(integer(15 * 60, { max: 7 * 24 * 3600 }), 'how long a locked email or address waits', '900'),
};

/** Every setting auth reads, for the settings table. */
export function authSettings(production = false) {
  return { ...serviceSettings('auth', production), ...AUTH_SETTINGS };
}

/** The auth process's settings, read once at start. */
export function loadAuthConfig(env: NodeJS.ProcessEnv = process.env): AuthConfig {
  const base = loadServiceConfig('auth', env);
  const settings = readSettings(env, AUTH_SETTINGS);
  const signingKey = secretSetting(env, 'JWT_PRIVATE_KEY');
  if (base.production && !signingKey) {
    throw new ConfigError('JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE must be set in production: auth has no key to sign access tokens with');
  }
  return {
    ...base,
    accessTokenTtlSeconds: settings.ACCESS_TOKEN_TTL_SECONDS,
    refreshTokenTtlSeconds: settings.REFRESH_TOKEN_TTL_SECONDS,
    ...(signingKey ? { signingKey } : {}),
    throttle: {
      maxFailuresPerAccount: settings.LOGIN_MAX_FAILURES_PER_ACCOUNT,
      maxFailuresPerAddress: settings.LOGIN_MAX_FAILURES_PER_ADDRESS,
      windowSeconds: settings.LOGIN_FAILURE_WINDOW_SECONDS,
      lockoutSeconds: settings.LOGIN_LOCKOUT_SECONDS,
    },
  };
}
