// How a subgraph knows a request comes from the gateway, and so has passed the gateway's limits (depth,
// aliases, cost): the gateway signs a short token for each subgraph with its own Ed25519 key, and the
// subgraph checks it with the public half. Only the gateway holds the private key, so a subgraph that is
// compromised cannot speak for the gateway to the others.
//
// The token names the gateway (`iss`) and the subgraph (`aud`); it is not bound to one request, so that
// signing and checking cost nothing per request: the gateway reuses one for half its life, a subgraph
// remembers the ones it has checked until they expire. Someone who can read the traffic between the
// two could replay one for that long: that is the network's part (TLS, or a private network).
import path from 'node:path';
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import { TOKEN_ALGORITHM, type PrivateKeyPair, type VerificationKey } from './keys';
import { REPOSITORY_ROOT } from './paths';
import { verifiedTokens } from './verified-tokens';

export const GATEWAY_ASSERTION_HEADER = 'x-gateway-assertion';
/**
 * `extensions.reason` of a subgraph's refusal of a request without a good assertion: to a client calling
 * it directly it is UNAUTHENTICATED, but through the gateway it says the gateway's key is not the one the
 * subgraph holds (a key rotated on one side only), which is no fault of the client's token.
 */
export const ASSERTION_REFUSED = 'GATEWAY_ASSERTION_REFUSED';

/** Whether a subgraph's answer (its parsed body) is its refusal of the gateway's assertion. */
export function refusesAssertion(body: unknown): boolean {
  const errors = (body as { errors?: unknown } | null | undefined)?.errors;
  return Array.isArray(errors) && (errors[0] as { extensions?: { reason?: unknown } } | undefined)?.extensions?.reason === ASSERTION_REFUSED;
}
const ISSUER = 'fedstack-gateway';
const LIFETIME_SECONDS = 300;

/** Outside production, the gateway's key pair: made on first use, read by the gateway and the subgraphs. */
export const GATEWAY_DEVELOPMENT_KEY_FILE = path.join(REPOSITORY_ROOT, '.data', 'keys', 'gateway-key.json');

/** Mints the gateway's assertion for a subgraph: a fresh one once half the last one's life has passed. */
export function gatewayAssertions(key: PrivateKeyPair, now: () => number = Date.now): (subgraph: string) => Promise<string> {
  const minted = new Map<string, { token: Promise<string>; renewAt: number }>();
  return (subgraph) => {
    const current = minted.get(subgraph);
    if (current && now() < current.renewAt) return current.token;
    const issuedAt = Math.floor(now() / 1000);
    const token = new SignJWT({})
      .setProtectedHeader({ alg: TOKEN_ALGORITHM, ...(key.publicJwk.kid ? { kid: key.publicJwk.kid } : {}) })
      .setIssuer(ISSUER)
      .setAudience(subgraph)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + LIFETIME_SECONDS)
      .sign(key.privateKey);
    minted.set(subgraph, { token, renewAt: (issuedAt + LIFETIME_SECONDS / 2) * 1000 });
    return token;
  };
}

/** What a subgraph's check says about a request's assertion. */
export type AssertionCheck = { ok: true } | { ok: false; reason: string };

/** The most assertions a subgraph remembers: one per gateway replica and renewal, with room to spare. */
const REMEMBERED = 1024;

const VERIFIED: AssertionCheck = { ok: true };

/**
 * Checks assertions at the subgraph `self` against the gateway's public key. A verified token is
 * remembered until it expires, so a request costs a map lookup; a forged one is checked every time.
 */
export function gatewayAssertionVerifier(self: string, key: VerificationKey, now: () => number = Date.now) {
  const verified = verifiedTokens<AssertionCheck>(REMEMBERED);
  return async (token: string | undefined): Promise<AssertionCheck> => {
    if (!token) return { ok: false, reason: `no ${GATEWAY_ASSERTION_HEADER} header` };
    if (verified.get(token, now())) return VERIFIED;
    try {
      const { payload } = await jwtVerify(token, key as Parameters<typeof jwtVerify>[1], {
        algorithms: [TOKEN_ALGORITHM],
        issuer: ISSUER,
        audience: self,
        maxTokenAge: `${LIFETIME_SECONDS}s`,
        requiredClaims: ['iat', 'exp'],
        currentDate: new Date(now()),
      });
      verified.remember(token, VERIFIED, (payload.exp as number) * 1000);
      return VERIFIED;
    } catch (error) {
      if (error instanceof joseErrors.JOSEError || error instanceof TypeError) return { ok: false, reason: error.message };
      throw error;
    }
  };
}
