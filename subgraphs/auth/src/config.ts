// auth's settings: token lifetimes, its signing key, and sign-in and registration throttling with the secret that keys it.
import path from 'node:path';
import { ConfigError, REPOSITORY_ROOT, THROTTLE_SECRET_MIN_LENGTH, integer, readSettings, secretSetting, setting, text } from '@fedstack/runtime';
import { loadServiceConfig, serviceSettings, type ServiceConfig } from '@fedstack/service-kit';

/** Sign-in and registration throttling (domain/throttle.ts). */
export interface ThrottlePolicy {
  /** Failed sign-ins for one e-mail from one address before that pair waits out the window. */
  maxFailuresPerAccountAndAddress: number;
  /** Failed sign-ins for one e-mail from anywhere before it is slowed down. */
  maxFailuresPerAccount: number;
  /** Failed sign-ins from one client address, whatever the e-mail, before it waits out the window. */
  maxFailuresPerAddress: number;
  /** How long a failure counts, in seconds. */
  windowSeconds: number;
  /** The longest pause an e-mail under attack is given, in seconds. */
  maxDelaySeconds: number;
  maxRegistrationsPerAddress: number;
  registrationWindowSeconds: number;
}

/** The secret the throttle's counter keys are HMACs under (domain/throttle.ts). */
export interface ThrottleKeyConfig {
  /** From THROTTLE_KEY_SECRET or THROTTLE_KEY_SECRET_FILE, trimmed; required in production. */
  secret?: { value: string; setting: string };
  /** Development only: the file a secret is made in on first use. */
  developmentFile?: string;
}

export interface AuthConfig extends ServiceConfig {
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  /** The Ed25519 private key as PKCS#8 PEM or a private JWK, and the setting it came from; required in production. */
  signingKey?: { value: string; setting: string };
  /** Other public keys auth publishes and takes tokens signed with (JWT_OTHER_PUBLIC_KEYS): a rotation's next or last key. */
  otherPublicKeys?: string;
  throttle: ThrottlePolicy;
  throttleKeys: ThrottleKeyConfig;
}

/** The development throttle key secret's file, made on first use (git-ignored, beside the development keys). */
const DEVELOPMENT_THROTTLE_SECRET_FILE = path.join(REPOSITORY_ROOT, '.data', 'keys', 'throttle-key-secret');

/**
 * The longest an access token may live (ACCESS_TOKEN_TTL_SECONDS at most): what an ended sign-in's tokens
 * are told to the other services for, whatever the lifetime is now, since a token issued before a change
 * of the setting keeps the lifetime it was issued with.
 */
export const MAX_ACCESS_TOKEN_TTL_SECONDS = 24 * 3600;

/** What auth reads besides a subgraph's settings. */
export const AUTH_SETTINGS = {
  JWT_PRIVATE_KEY: setting(text(), "auth's Ed25519 signing key (PKCS#8 PEM or JWK); required in production", 'generated in `.data/keys` outside production'),
  JWT_PRIVATE_KEY_FILE: setting(text(), '…or a file holding the signing key (a container secret)'),
  JWT_OTHER_PUBLIC_KEYS: setting(
    text(),
    'public keys (PEM, JWK or JWK Set) auth serves at `/.well-known/jwks.json` beside its signing key\'s and takes tokens signed with: in a rotation, the next key until every replica signs with it, then the last one until its tokens expire (docs/operations.md, "Rotating keys"); the same for every replica of auth',
  ),
  ACCESS_TOKEN_TTL_SECONDS: setting(integer(15 * 60, { max: MAX_ACCESS_TOKEN_TTL_SECONDS }), 'access token lifetime'),
  REFRESH_TOKEN_TTL_SECONDS: setting(integer(30 * 24 * 3600, { max: 365 * 24 * 3600 }), 'refresh token lifetime'),
  LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS: setting(
    integer(5, { max: 1000 }),
    'failed sign-ins for one e-mail from one address before that pair waits out the window (the owner, elsewhere, is not affected)',
  ),
  LOGIN_MAX_FAILURES_PER_ACCOUNT: setting(
    integer(50, { max: 100_000 }),
    'failed sign-ins for one e-mail from anywhere within the window before it is paused, for 2 s; past it, one attempt after each pause, each pause twice as long as the last that day; the pause does not hold the addresses the account signed in from in sign-ins not ended',
  ),
  LOGIN_MAX_FAILURES_PER_ADDRESS: setting(integer(100, { max: 1_000_000 }), 'failed sign-ins from one client address, whatever the e-mail, per window'),
  LOGIN_FAILURE_WINDOW_SECONDS: setting(integer(15 * 60, { max: 7 * 24 * 3600 }), 'how long a failed sign-in counts'),
  LOGIN_MAX_DELAY_SECONDS: setting(integer(15 * 60, { max: 24 * 3600 }), 'the longest pause an e-mail under attack is given'),
  REGISTER_MAX_PER_ADDRESS: setting(integer(10, { max: 1_000_000 }), 'registrations from one client address per window (each aliased `register` counts)'),
  REGISTER_WINDOW_SECONDS: setting(integer(3600, { max: 7 * 24 * 3600 }), 'the registration window'),
  THROTTLE_KEY_SECRET: setting(
    text(),
    `the secret the sign-in and registration counters' keys are HMACs under, so that \`auth.rate_limits\` gives away no e-mail or client address: ${THROTTLE_SECRET_MIN_LENGTH} random characters or more (\`openssl rand -base64 32\`), the same for every replica of auth (each counts apart otherwise); required in production`,
    'generated in `.data/keys` outside production',
  ),
  THROTTLE_KEY_SECRET_FILE: setting(text(), '…or a file holding that secret (a container secret)'),
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
  const throttleSecret = secretSetting(env, 'THROTTLE_KEY_SECRET');
  if (base.production && !throttleSecret) {
    throw new ConfigError(
      'THROTTLE_KEY_SECRET or THROTTLE_KEY_SECRET_FILE must be set in production: auth has no secret to key its sign-in and registration counters with',
    );
  }
  // A file's trailing newline is not part of the secret: every replica must derive the same keys.
  const secret = throttleSecret && { value: throttleSecret.value.trim(), setting: throttleSecret.setting };
  if (secret && secret.value.length < THROTTLE_SECRET_MIN_LENGTH) {
    throw new ConfigError(`${secret.setting} must be at least ${THROTTLE_SECRET_MIN_LENGTH} characters (got ${secret.value.length})`);
  }
  return {
    ...base,
    accessTokenTtlSeconds: settings.ACCESS_TOKEN_TTL_SECONDS,
    refreshTokenTtlSeconds: settings.REFRESH_TOKEN_TTL_SECONDS,
    ...(signingKey ? { signingKey } : {}),
    ...(settings.JWT_OTHER_PUBLIC_KEYS ? { otherPublicKeys: settings.JWT_OTHER_PUBLIC_KEYS } : {}),
    throttle: {
      maxFailuresPerAccountAndAddress: settings.LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS,
      maxFailuresPerAccount: settings.LOGIN_MAX_FAILURES_PER_ACCOUNT,
      maxFailuresPerAddress: settings.LOGIN_MAX_FAILURES_PER_ADDRESS,
      windowSeconds: settings.LOGIN_FAILURE_WINDOW_SECONDS,
      maxDelaySeconds: settings.LOGIN_MAX_DELAY_SECONDS,
      maxRegistrationsPerAddress: settings.REGISTER_MAX_PER_ADDRESS,
      registrationWindowSeconds: settings.REGISTER_WINDOW_SECONDS,
    },
    throttleKeys: secret ? { secret } : { developmentFile: DEVELOPMENT_THROTTLE_SECRET_FILE },
  };
}
