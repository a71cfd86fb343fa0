// Who made an internal call: each service signs its calls with its own Ed25519 key, and the service called checks them.
import { createHash, randomUUID } from 'node:crypto';
import {
  SignJWT,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type CryptoKey,
  type JWK,
  type JWTVerifyGetKey,
} from 'jose';
import { bearerToken, excerpt, isService, type Service, generatePrivateKey, keysBeside, parsePrivateKey } from '@fedstack/runtime';
import { INTERNAL_JWKS_PATH } from './protocol';

/**
 * Every call carries a token that the calling service signs with its own key, naming itself (`iss`), the
 * service called (`aud`), the path (`htu`) and a hash of the body (`bh`), valid for as long as the caller
 * waits for the answer (INTERNAL_TIMEOUT_MS) and a second more for the clocks' difference. The service
 * called checks it against the caller's public key, which the caller serves at /internal/jwks.json: a
 * service holds only its own private key, so no service can speak for another, even one whose host is
 * compromised. A call that reaches it later is refused: its caller has answered its own client that the
 * service did not answer (a hung host that read its socket once it was back ran every command it had been
 * sent, up to a minute after the admin was told they had failed). A command that arrived in time commits
 * only until then too (routes.ts, runtime's forCallerUntil).
 */
const ALGORITHM = 'EdDSA';
/** The longest any token is taken: a bound on INTERNAL_TIMEOUT_MS's effect too. */
const MAX_TOKEN_AGE_SECONDS = 600;
const CLOCK_ALLOWANCE_SECONDS = 1;

/** A service's own key for its internal calls. */
export interface InternalIdentity {
  self: Service;
  privateKey: CryptoKey;
  /** The public half as the service serves it, with a key id of its own. */
  publicJwk: JWK;
  /** What it serves at /internal/jwks.json: its key, and those of INTERNAL_OTHER_PUBLIC_KEYS. */
  published: JWK[];
}

/**
 * This service's identity: the key INTERNAL_PRIVATE_KEY(_FILE) gives (required in production, so that
 * every replica of a service signs with the same key), or in development one made for this process.
 * `otherPublicKeys` (INTERNAL_OTHER_PUBLIC_KEYS) are published beside it, under the key ids a replica
 * signing with them uses, so that in a rotation the services called take the calls of replicas on
 * either key whichever replica they read the keys from.
 */
export async function internalIdentity(
  self: Service,
  { privateKey: configured, otherPublicKeys }: { privateKey?: { value: string; setting: string }; otherPublicKeys?: string } = {},
): Promise<InternalIdentity> {
  const { privateKey, publicJwk } = configured ? await parsePrivateKey(configured.value, configured.setting) : await generatePrivateKey();
  const own = { ...publicJwk, kid: `${self}-${publicJwk.kid}` };
  const others = otherPublicKeys ? await keysBeside(own, otherPublicKeys, 'INTERNAL_OTHER_PUBLIC_KEYS', (kid) => `${self}-${kid}`) : [];
  return { self, privateKey, publicJwk: own, published: [own, ...others] };
}

const sha256 = (body: Buffer | string) => createHash('sha256').update(body).digest('base64url');

/** Signs one call: to whom, which path, which body; valid while the caller waits for it (`timeoutMs`). */
export function signCall(identity: InternalIdentity, audience: Service, pathname: string, body: string, timeoutMs: number): Promise<string> {
  const now = Date.now();
  return (
    new SignJWT({ htu: pathname, bh: sha256(body) })
      .setProtectedHeader({ alg: ALGORITHM, kid: identity.publicJwk.kid })
      .setIssuer(identity.self)
      .setAudience(audience)
      .setJti(randomUUID())
      .setIssuedAt(Math.floor(now / 1000))
      // The second the wait ends in (whole seconds, rounded up); the check allows the clocks' difference on top.
      .setExpirationTime(Math.ceil((now + timeoutMs) / 1000))
      .sign(identity.privateKey)
  );
}

/** A call whose token checked out: who made it, and the token's id and expiry (for refusing a replay). */
export interface VerifiedCall {
  caller: Service;
  tokenId: string;
  expiresAt: Date;
}

/**
 * A call refused: why, for the service's log (never told to the caller), and the service it named as its
 * caller; `verified` when its signature checked out with that service's key (it did come from there), not
 * when anyone could have sent it.
 */
export interface RefusedCall {
  refused: string;
  caller?: Service;
  verified: boolean;
}

/** Checks one internal call's token; resolves to the call, or to why it was refused. */
export type InternalCallVerifier = (header: string | undefined, pathname: string, body: Buffer) => Promise<VerifiedCall | RefusedCall>;

/** Why jose refused a token, in an operator's words, and whether its signature had checked out (jose checks claims after it). */
function whyRefused(error: InstanceType<typeof joseErrors.JOSEError>, caller: Service, token: string): Omit<RefusedCall, 'caller'> {
  if (error instanceof joseErrors.JWTExpired) return { refused: 'expired: it arrived after its caller stopped waiting, or the clocks differ', verified: true };
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    return { refused: `its "${error.claim}" claim ${error.reason === 'check_failed' ? 'does not match' : error.reason}`, verified: true };
  }
  if (error instanceof joseErrors.JWKSNoMatchingKey) {
    const kid = excerpt(String(decodeProtectedHeader(token).kid), 80);
    const why = `a forged token, or a replica of ${caller} on another INTERNAL_PRIVATE_KEY (docs/operations.md, "Rotating keys")`;
    return { refused: `it names a key (kid ${kid}) ${caller} does not publish at ${INTERNAL_JWKS_PATH}: ${why}`, verified: false };
  }
  if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid || error.code === 'ERR_JOSE_GENERIC')
    return { refused: `${caller}'s keys could not be read from ${INTERNAL_JWKS_PATH}`, verified: false };
  return { refused: `not valid (${error.code})`, verified: false };
}

/**
 * Checks internal calls made to `self`: the caller's key is fetched from the caller's own URL (and kept
 * until a call names a key it does not know). Returns the call, or why it was refused. A valid token
 * may still be a replay of an earlier call: the routes refuse those (replay.ts).
 */
export function internalCallVerifier(self: Service, peers: Record<Service, string>, timeoutMs: number): InternalCallVerifier {
  const keySets = new Map<Service, JWTVerifyGetKey>();
  const keysOf = (caller: Service) => {
    let keys = keySets.get(caller);
    if (!keys) {
      keys = createRemoteJWKSet(new URL(INTERNAL_JWKS_PATH, peers[caller]), { cooldownDuration: 1000, timeoutDuration: timeoutMs });
      keySets.set(caller, keys);
    }
    return keys;
  };
  return async (header, pathname, body) => {
    const token = bearerToken(header ?? '');
    if (!token) return { refused: 'no bearer token', verified: false };
    let caller: unknown;
    try {
      caller = decodeJwt(token).iss;
    } catch {
      return { refused: 'not a JWT', verified: false };
    }
    if (typeof caller !== 'string' || !isService(caller) || caller === self) return { refused: 'not from another service of the stack (iss)', verified: false };
    try {
      const { payload } = await jwtVerify(token, keysOf(caller), {
        algorithms: [ALGORITHM],
        issuer: caller,
        audience: self,
        maxTokenAge: `${MAX_TOKEN_AGE_SECONDS}s`,
        // For its expiry and its issue time alike: a receiver whose clock is a little behind took fresh calls for future ones.
        clockTolerance: CLOCK_ALLOWANCE_SECONDS,
        requiredClaims: ['iat', 'exp', 'jti', 'htu', 'bh'],
      });
      if (payload.htu !== pathname || payload.bh !== sha256(body)) return { refused: 'signed for another path or body', caller, verified: true };
      if (typeof payload.jti !== 'string' || typeof payload.exp !== 'number') return { refused: 'no token id or expiry', caller, verified: true };
      return { caller, tokenId: payload.jti, expiresAt: new Date(payload.exp * 1000) };
    } catch (error) {
      if (error instanceof joseErrors.JOSEError) return { ...whyRefused(error, caller, token), caller };
      if (error instanceof TypeError) return { refused: `could not be checked (${error.message})`, caller, verified: false };
      throw error;
    }
  };
}
