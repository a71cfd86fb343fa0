// Access tokens at a subgraph: verified with the public key alone, and who may do what with them.
import { errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { AppError, TOKEN_ALGORITHM, bearerToken, forbidden, unauthenticated, verifiedTokens, type VerificationKey } from '@fedstack/runtime';
import { isUuid } from './ids';

export type ViewerRole = 'USER' | 'ADMIN';

/** Who sent a request, as their verified access token says. */
export interface Viewer {
  userId: string;
  role: ViewerRole;
  /** The sign-in (refresh-token family) the token was issued for. */
  sessionId: string;
  tokenId: string;
  /** When the token expires (epoch milliseconds): a subscription made with it ends then. */
  expiresAt: number;
}

/** The claims auth puts in an access token, besides iss, aud, iat and exp. */
export interface AccessTokenClaims extends JWTPayload {
  sub: string;
  role: ViewerRole;
  sid: string;
  jti: string;
}

export type TokenVerifier = (token: string) => Promise<Viewer>;

function explain(error: unknown): AppError {
  // Keys that could not be read (keys.ts): no verdict on the token.
  if (error instanceof AppError) return error;
  if (error instanceof joseErrors.JWTExpired) return unauthenticated('Access token expired: refresh the session');
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    return unauthenticated(`Access token rejected: claim "${error.claim}" ${error.reason === 'check_failed' ? 'does not match' : 'is missing or invalid'}`);
  }
  return unauthenticated('Access token is not valid');
}

/** Verified tokens remembered per process: a user's next requests skip the signature check. */
const VERIFIED_TOKENS = 10_000;

/**
 * Verifies access tokens with the public key alone. The algorithm, issuer and audience are pinned, so
 * `alg: none`, an HS256 token "signed" with the public key, or a token for another audience all fail.
 *
 * A token that verified is remembered, by its exact text, until it expires: the signature check was the
 * largest single cost of a subgraph's request, and a token's claims cannot change. What can change (a
 * suspension, a logout) is the account policy's business, checked on every request all the same.
 */
export function createTokenVerifier(options: { key: VerificationKey; issuer: string; audience: string }): TokenVerifier {
  const verified = verifiedTokens<Viewer>(VERIFIED_TOKENS);
  return async (token) => {
    // Expiry on the same clock as jose's check: a remembered token is refused as expired when a new one would be.
    const known = verified.get(token, Date.now());
    if (known) return known;
    let payload: JWTPayload;
    try {
      // jose's overloads differ for a key and a key-set function; both are valid here.
      ({ payload } = await jwtVerify(token, options.key as Parameters<typeof jwtVerify>[1], {
        algorithms: [TOKEN_ALGORITHM],
        issuer: options.issuer,
        audience: options.audience,
        requiredClaims: ['sub', 'jti', 'iat', 'exp'],
      }));
    } catch (error) {
      throw explain(error);
    }
    const { sub, role, sid, jti } = payload as Partial<AccessTokenClaims>;
    if (
      typeof sub !== 'string' ||
      !isUuid(sub) ||
      (role !== 'USER' && role !== 'ADMIN') ||
      typeof sid !== 'string' ||
      !isUuid(sid) ||
      typeof jti !== 'string'
    ) {
      throw unauthenticated('Access token is not valid: unexpected claims');
    }
    const expiresAt = (payload.exp as number) * 1000;
    const viewer: Viewer = { userId: sub, role, sessionId: sid, tokenId: jti, expiresAt };
    verified.remember(token, viewer, expiresAt);
    return viewer;
  };
}

/**
 * The outcome of reading a request's credentials. A bad token is remembered rather than thrown, so that
 * operations which need no identity (login, refreshing an expired session) still work.
 */
export interface RequestAuth {
  viewer: Viewer | null;
  error: AppError | null;
}

const ANONYMOUS: RequestAuth = { viewer: null, error: null };

/** Reads `Authorization: Bearer <token>`; no header is anonymous, anything else must verify. */
export async function authenticate(header: string | undefined, verify: TokenVerifier): Promise<RequestAuth> {
  if (!header) return ANONYMOUS;
  const token = bearerToken(header);
  if (!token) return { viewer: null, error: unauthenticated('Authorization header must be "Bearer <access token>"') };
  try {
    return { viewer: await verify(token), error: null };
  } catch (error) {
    return { viewer: null, error: error instanceof AppError ? error : unauthenticated() };
  }
}

/** The viewer, or null for an anonymous request; a request with a bad token is refused. */
export function optionalViewer(auth: RequestAuth): Viewer | null {
  if (auth.error) throw auth.error;
  return auth.viewer;
}

/** The viewer; anonymous requests and bad tokens are refused with UNAUTHENTICATED. */
export function requireViewer(auth: RequestAuth): Viewer {
  const viewer = optionalViewer(auth);
  if (!viewer) throw unauthenticated();
  return viewer;
}

/** An admin viewer; anyone else is refused (UNAUTHENTICATED without identity, FORBIDDEN with another role). */
export function requireAdmin(auth: RequestAuth): Viewer {
  const viewer = requireViewer(auth);
  if (viewer.role !== 'ADMIN') throw forbidden('This operation requires the ADMIN role');
  return viewer;
}

/** The viewer, if they are the user in question or an admin; otherwise UNAUTHENTICATED or FORBIDDEN. */
export function requireSelfOrAdmin(auth: RequestAuth, userId: string, what = "this user's data"): Viewer {
  const viewer = requireViewer(auth);
  if (viewer.userId !== userId && viewer.role !== 'ADMIN') throw forbidden(`Only the user and admins can see ${what}`);
  return viewer;
}
