import { ConfigError, positiveInteger } from '@fedstack/shared-db';
import { loadServiceConfig, settingFile, type ServiceConfig } from '@fedstack/service-kit';

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
  signingKey?: { value: string; setting: 'JWT_PRIVATE_KEY' | 'JWT_PRIVATE_KEY_FILE' };
  throttle: LoginThrottlePolicy;
}

/** The auth process's settings, read once at start. */
export function loadAuthConfig(env: NodeJS.ProcessEnv = process.env): AuthConfig {
  const base = loadServiceConfig('auth', env);
  const fromFile = !env.JWT_PRIVATE_KEY && env.JWT_PRIVATE_KEY_FILE ? settingFile(env.JWT_PRIVATE_KEY_FILE, 'JWT_PRIVATE_KEY_FILE') : undefined;
  const signingKey = env.JWT_PRIVATE_KEY
    ? { value: env.JWT_PRIVATE_KEY, setting: 'JWT_PRIVATE_KEY' as const }
    : fromFile
      ? { value: fromFile, setting: 'JWT_PRIVATE_KEY_FILE' as const }
      : undefined;
  if (base.production && !signingKey) {
    throw new ConfigError('JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE must be set in production: auth has no key to sign access tokens with');
  }
  return {
    ...base,
    accessTokenTtlSeconds: positiveInteger(env, 'ACCESS_TOKEN_TTL_SECONDS', 15 * 60, 24 * 3600),
    refreshTokenTtlSeconds: positiveInteger(env, 'REFRESH_TOKEN_TTL_SECONDS', 30 * 24 * 3600),
    ...(signingKey ? { signingKey } : {}),
    throttle: {
      maxFailuresPerAccount: positiveInteger(env, 'LOGIN_MAX_FAILURES_PER_ACCOUNT', 5),
      maxFailuresPerAddress: positiveInteger(env, 'LOGIN_MAX_FAILURES_PER_ADDRESS', 20),
      windowSeconds: positiveInteger(env, 'LOGIN_FAILURE_WINDOW_SECONDS', 15 * 60),
      lockoutSeconds: positiveInteger(env, 'LOGIN_LOCKOUT_SECONDS', 15 * 60),
    },
  };
}
