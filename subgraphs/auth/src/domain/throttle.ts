// Sign-in and registration throttling: counters per e-mail, per address and per pair, keyed by an HMAC of what they count.
import { createHmac, randomBytes } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { RateLimiterPrisma, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { ConfigError, developmentSecret, rateLimited } from '@fedstack/runtime';
import type { ServiceClient } from '@fedstack/shared-db';
import type { ThrottleKeyConfig, ThrottlePolicy } from '../config';

type AuthDb = ServiceClient<'auth'>;

/**
 * The keys of the counters in auth.rate_limits: HMAC-SHA-256 of what a counter counts (an e-mail, an
 * address, both) under THROTTLE_KEY_SECRET. Fixed length, and no e-mail or address in the table: a plain
 * hash of an IPv4 address is undone by hashing all four billion of them, and an e-mail by hashing a list
 * of addresses, but without the secret neither can be tried. Every replica of auth must use the same
 * secret, or each counts apart; a new secret starts every counter again.
 */
export class ThrottleKeys {
  constructor(private readonly secret: string) {}

  /** The key of one counter of what `parts` name. */
  of(...parts: string[]): string {
    return createHmac('sha256', this.secret).update(parts.join('\u0000')).digest('hex');
  }

  /** The counters an e-mail's owner may be erased with (the pairs expire with their window). */
  erasable(email: string): string[] {
    return [`login-account:${this.of(email)}`, `login-strikes:${this.of(email)}`, `login-pause:${this.of(email)}`];
  }
}

/**
 * The configured secret (THROTTLE_KEY_SECRET or its _FILE), or in development one made on first use and
 * kept in `developmentFile`, so that counters survive restarts and every process started here shares it.
 */
export async function throttleKeys(config: ThrottleKeyConfig): Promise<ThrottleKeys> {
  if (config.secret) return new ThrottleKeys(config.secret.value);
  if (!config.developmentFile) throw new ConfigError('THROTTLE_KEY_SECRET must be set: auth has no secret to key its throttle counters with');
  const secret = await developmentSecret(
    config.developmentFile,
    async () => randomBytes(32).toString('base64url'),
    (text) => {
      if (text.trim().length < 32) throw new Error('too short');
      return text.trim();
    },
    'throttle key secret',
  );
  return new ThrottleKeys(secret);
}

/**
 * What a client's address is counted as: an IPv6 address by its /64, the smallest block a subscriber is
 * given, every address of which it can use (counted one by one, each would start the limits again; one
 * given a /56 or a /48 still has 256 or 65,536 counts of its own); an IPv4 address, or one mapped into
 * IPv6, as itself. Anything else (no address, or a form ipaddr.js does not read) is counted as written.
 */
export function countedAddress(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  const parsed = ipaddr.parse(address);
  if (!(parsed instanceof ipaddr.IPv6)) return parsed.toString();
  if (parsed.isIPv4MappedAddress()) return parsed.toIPv4Address().toString();
  return `${parsed.parts
    .slice(0, 4)
    .map((part) => part.toString(16))
    .join(':')}::/64`;
}

/** How many of an account's sign-in addresses are read to tell whether an attempt comes from one of them. */
const LIVE_SIGN_IN_ADDRESSES_READ = 100;

/** What one sign-in attempt counted against, to settle when it succeeds. */
export interface SignInAttempt {
  pair: string;
  account: string;
  address?: string;
  /** From an address the account signed in from: not counted against the e-mail, and its success leaves the e-mail's count alone. */
  fromSignInAddress: boolean;
}

/**
 * Sign-in and registration throttling with rate-limiter-flexible, its counters in auth's own table
 * (through the service's Prisma client, so they hold across restarts and instances):
 * - failures for one e-mail from one address: few (5), then that pair waits out the window. An attacker
 *   cannot lock the owner out: the owner, from anywhere else, is another pair;
 * - failures for one e-mail from anywhere: more (50) within the window, then a pause that doubles each time
 *   (2 s, 4 s… at most LOGIN_MAX_DELAY_SECONDS), rather than a lock: past the limit, one attempt after each
 *   pause, until the window's failures no longer count. It neither holds nor counts an address the account
 *   signed in from (signedInFrom): an attacker who keeps the pause going cannot keep the owner out of the
 *   places the owner signs in from;
 * - failures from one address, whatever the e-mail: 100 per window;
 * - registrations from one address: 10 an hour, each aliased `register` in a request counted.
 * An attempt is counted before its password is checked, so guesses sent in parallel count too; one that a
 * limit refuses never reaches the check, and is given back to the counters it had already been taken from.
 */
export class SignInThrottle {
  private readonly pairs: RateLimiterAbstract;
  private readonly accounts: RateLimiterAbstract;
  private readonly strikes: RateLimiterAbstract;
  private readonly pauses: RateLimiterAbstract;
  private readonly addresses: RateLimiterAbstract;
  private readonly registrations: RateLimiterAbstract;

  constructor(
    private readonly db: AuthDb,
    private readonly policy: ThrottlePolicy,
    private readonly keys: ThrottleKeys,
  ) {
    // Expired rows are deleted by auth's own sweep (expired-counters.ts), which stops with the server.
    const limiter = (keyPrefix: string, points: number, duration: number) =>
      new RateLimiterPrisma({ storeClient: db, tableName: 'rateLimit', keyPrefix, points, duration, clearExpiredByTimeout: false });
    const window = policy.windowSeconds;
    this.pairs = limiter('login-pair', policy.maxFailuresPerAccountAndAddress, window);
    this.accounts = limiter('login-account', policy.maxFailuresPerAccount, window);
    this.strikes = limiter('login-strikes', 64, 24 * 3600);
    // An account's pause, apart from its failures: a pause written over them (rate-limiter-flexible's block)
    // ended the window with it, and the next 50 guesses counted as new.
    this.pauses = limiter('login-pause', 1, policy.maxDelaySeconds);
    this.addresses = limiter('login-address', policy.maxFailuresPerAddress, window);
    this.registrations = limiter('register-address', policy.maxRegistrationsPerAddress, policy.registrationWindowSeconds);
  }

  /** Counts one sign-in attempt for `email` from `address`; RATE_LIMITED, with when to retry, past a limit. */
  async takeSignInAttempt(email: string, clientAddress: string | undefined): Promise<SignInAttempt> {
    const { keys } = this;
    const address = clientAddress && countedAddress(clientAddress);
    const attempt: SignInAttempt = {
      pair: keys.of(email, address ?? ''),
      account: keys.of(email),
      ...(address ? { address: keys.of(address) } : {}),
      fromSignInAddress: false,
    };
    const taken: [RateLimiterAbstract, string][] = [];
    try {
      if (attempt.address) {
        await this.consume(this.addresses, attempt.address);
        taken.push([this.addresses, attempt.address]);
      }
      await this.consume(this.pairs, attempt.pair);
      taken.push([this.pairs, attempt.pair]);
      attempt.fromSignInAddress = Boolean(address && (await this.signedInFrom(email, address)));
      if (!attempt.fromSignInAddress) await this.takeAccountAttempt(attempt.account);
    } catch (refusal) {
      // Refused before the password was checked: not a failure of this address or pair. Counted, the owner's
      // own retries during a pause would use up the owner's pair.
      await Promise.allSettled(taken.map(([limiter, key]) => limiter.reward(key, 1)));
      throw refusal;
    }
    return attempt;
  }

  /**
   * Counts a failure for the e-mail from anywhere. Past its limit within the window, a pause that grows
   * each time (never a lock): the attempt that reaches the limit waits the first, and after each pause
   * one attempt goes ahead and starts the next.
   */
  private async takeAccountAttempt(account: string): Promise<void> {
    const pause = await this.pauses.get(account);
    if (pause && pause.consumedPoints > 1 && pause.msBeforeNext > 0) {
      throw rateLimited(Math.max(1, Math.ceil(pause.msBeforeNext / 1000)), 'Too many failed sign-in attempts');
    }
    try {
      await this.accounts.consume(account);
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      const strike = await this.strikes.penalty(account);
      const delay = Math.min(2 ** strike.consumedPoints, this.policy.maxDelaySeconds);
      await this.pauses.block(account, delay);
      if (rejection.consumedPoints === this.policy.maxFailuresPerAccount + 1) throw rateLimited(delay, 'Too many failed sign-in attempts');
    }
  }

  /**
   * Whether the account of `email` signed in from `address` (as counted) with its password, in a sign-in
   * not ended since. A sign-in's first token only: every refresh adds a token from wherever the device is
   * then (a carrier's shared address, a VPN's exit), and those would exempt addresses an attacker can use.
   * So an attacker gets at most the pair limit's guesses from each address its owner signs in from.
   */
  private async signedInFrom(email: string, address: string): Promise<boolean> {
    const sessions = await this.db.$queryRaw<{ ip_address: string }[]>`
      SELECT DISTINCT s.ip_address FROM auth.sessions s JOIN auth.users u ON u.id = s.user_id
      WHERE u.email = ${email} AND s.revoked_at IS NULL AND s.expires_at > now() AND s.ip_address IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM auth.sessions earlier WHERE earlier.replaced_by_id = s.id)
      LIMIT ${LIVE_SIGN_IN_ADDRESSES_READ}`;
    return sessions.some((session) => countedAddress(session.ip_address) === address);
  }

  /** A successful sign-in clears its e-mail's counters and gives the address its attempt back. */
  async settleSuccess(attempt: SignInAttempt): Promise<void> {
    // The owner signing in from home during an attack does not lift the pause for the attacker.
    await Promise.all([
      this.pairs.delete(attempt.pair),
      ...(attempt.fromSignInAddress ? [] : [this.accounts.delete(attempt.account), this.pauses.delete(attempt.account)]),
    ]);
    if (attempt.address) await this.addresses.reward(attempt.address, 1);
  }

  /**
   * Counts one registration from `address`; RATE_LIMITED past the limit. Before the registration's checks,
   * so that an address past its limit costs no password strength check; `giveBackRegistration` when they
   * refuse it.
   */
  async takeRegistration(address: string | undefined): Promise<void> {
    await this.consume(this.registrations, this.registrationKey(address), 'Too many registrations from this address');
  }

  /** A registration refused for its input: not one of the address's. */
  async giveBackRegistration(address: string | undefined): Promise<void> {
    await this.registrations.reward(this.registrationKey(address), 1);
  }

  private registrationKey(address: string | undefined): string {
    return this.keys.of(address ? countedAddress(address) : 'unknown address');
  }

  private async consume(limiter: RateLimiterAbstract, key: string, message = 'Too many failed sign-in attempts'): Promise<void> {
    try {
      await limiter.consume(key);
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) throw rateLimited(Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)), message);
      throw rejection;
    }
  }
}
