import { createHash, randomUUID } from 'node:crypto';
import express, { type Express } from 'express';
import { SignJWT, createRemoteJWKSet, decodeJwt, errors as joseErrors, jwtVerify, type CryptoKey, type JWK, type JWTVerifyGetKey } from 'jose';
import { Agent, request } from 'undici';
import { z } from 'zod';
import { isService, type Service, AppError, ErrorCode, type Logger, generatePrivateKey, parsePrivateKey } from '@fedstack/runtime';

/**
 * The internal API: what services ask of each other (admin asks auth to suspend a user) and the events
 * they deliver (auth tells the others an account changed). It is served under /internal on each service's
 * port, which the gateway never routes to. Every call carries a token that the calling service signs
 * with its own Ed25519 key, naming itself (`iss`), the service called (`aud`), the path (`htu`) and a
 * hash of the body (`bh`), valid for a minute. The service called checks it against the caller's public
 * key, which the caller serves at /internal/jwks.json: a service holds only its own private key, so no
 * service can speak for another, even one whose host is compromised.
 */

const ALGORITHM = 'EdDSA';
const TOKEN_LIFETIME_SECONDS = 60;
export const INTERNAL_JWKS_PATH = '/internal/jwks.json';

/** A service's own key for its internal calls. */
export interface InternalIdentity {
  self: Service;
  privateKey: CryptoKey;
  /** The public half as the service serves it, with a key id of its own. */
  publicJwk: JWK;
}

/**
 * This service's identity: the key INTERNAL_PRIVATE_KEY(_FILE) gives (required in production, so that
 * every replica of a service signs with the same key), or in development one made for this process.
 */
export async function internalIdentity(self: Service, configured: { value: string; setting: string } | undefined): Promise<InternalIdentity> {
  const { privateKey, publicJwk } = configured ? await parsePrivateKey(configured.value, configured.setting) : await generatePrivateKey();
  return { self, privateKey, publicJwk: { ...publicJwk, kid: `${self}-${publicJwk.kid}` } };
}

const sha256 = (body: Buffer | string) => createHash('sha256').update(body).digest('base64url');

/** Signs one call: to whom, which path, which body. */
function signCall(identity: InternalIdentity, audience: Service, pathname: string, body: string): Promise<string> {
  return new SignJWT({ htu: pathname, bh: sha256(body) })
    .setProtectedHeader({ alg: ALGORITHM, kid: identity.publicJwk.kid })
    .setIssuer(identity.self)
    .setAudience(audience)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime(`${TOKEN_LIFETIME_SECONDS}s`)
    .sign(identity.privateKey);
}

/**
 * Checks internal calls made to `self`: the caller's key is fetched from the caller's own URL (and kept
 * until a call names a key it does not know). Returns the calling service, or null for anything else.
 */
export function internalCallVerifier(self: Service, peers: Record<Service, string>, timeoutMs: number) {
  const keySets = new Map<Service, JWTVerifyGetKey>();
  const keysOf = (caller: Service) => {
    let keys = keySets.get(caller);
    if (!keys) {
      keys = createRemoteJWKSet(new URL(INTERNAL_JWKS_PATH, peers[caller]), { cooldownDuration: 1000, timeoutDuration: timeoutMs });
      keySets.set(caller, keys);
    }
    return keys;
  };
  return async (header: string | undefined, pathname: string, body: Buffer): Promise<Service | null> => {
    const token = /^Bearer (\S+)$/.exec(header ?? '')?.[1];
    if (!token) return null;
    try {
      const caller = decodeJwt(token).iss;
      if (typeof caller !== 'string' || !isService(caller) || caller === self) return null;
      const { payload } = await jwtVerify(token, keysOf(caller), {
        algorithms: [ALGORITHM],
        issuer: caller,
        audience: self,
        maxTokenAge: `${TOKEN_LIFETIME_SECONDS}s`,
        requiredClaims: ['iat', 'exp', 'jti', 'htu', 'bh'],
      });
      return payload.htu === pathname && payload.bh === sha256(body) ? caller : null;
    } catch (error) {
      if (error instanceof joseErrors.JOSEError || error instanceof TypeError) return null;
      throw error;
    }
  };
}

/** A command another service may ask of this one: who may ask, what it takes, what it does. */
export interface CommandHandler<I = unknown> {
  callers: readonly Service[];
  input: z.ZodType<I>;
  run(input: I, context: { caller: Service; requestId: string; logger: Logger }): Promise<unknown>;
}

/** An event this service applies: who may send it, its payload, and how it is applied (at least once). */
export interface EventHandler<P = unknown> {
  from: readonly Service[];
  payload: z.ZodType<P>;
  apply(payload: P, event: { eventId: string; source: Service; createdAt: Date }): Promise<void>;
}

export interface InternalHandlers {
  commands?: Record<string, CommandHandler<never>>;
  events?: Record<string, EventHandler<never>>;
}

/** Declares a command with its input's type checked against its schema. */
export const command = <I>(handler: CommandHandler<I>): CommandHandler<never> => handler as CommandHandler<never>;
/** Declares an event handler with its payload's type checked against its schema. */
export const eventHandler = <P>(handler: EventHandler<P>): EventHandler<never> => handler as EventHandler<never>;

const EVENT = z.object({ eventId: z.uuid(), topic: z.string().min(1), payload: z.unknown(), createdAt: z.iso.datetime() });

const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.BAD_USER_INPUT]: 400,
  [ErrorCode.FORBIDDEN]: 403,
  [ErrorCode.NOT_FOUND]: 404,
  [ErrorCode.CONFLICT]: 409,
};

/**
 * Serves POST /internal/commands/<name> and POST /internal/events, and this service's public key at
 * /internal/jwks.json. A call without a valid token from another service, from a service the handler
 * does not accept, or with a body its schema refuses, is answered 401, 403 or 400 and changes nothing. A
 * command's own refusals (AppError) keep their code and message.
 */
export function internalRoutes(
  app: Express,
  options: { identity: InternalIdentity; verify: ReturnType<typeof internalCallVerifier>; handlers: InternalHandlers; logger: Logger; bodyLimitBytes: number },
): void {
  const { identity, verify, handlers, logger } = options;
  const self = identity.self;
  const router = express.Router();
  router.get('/jwks.json', (_req, res) => {
    res.set('cache-control', 'public, max-age=60').json({ keys: [identity.publicJwk] });
  });
  // The raw body is what the caller signed; it is parsed only once the signature is checked.
  router.use(express.raw({ type: () => true, limit: options.bodyLimitBytes }));
  router.use(async (req, res, next) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    let caller: Service | null;
    try {
      caller = await verify(req.headers.authorization, req.originalUrl, body);
    } catch (error) {
      next(error);
      return;
    }
    if (!caller) {
      res.status(401).json({ error: { code: ErrorCode.UNAUTHENTICATED, message: 'Internal calls need a valid token signed by the calling service' } });
      return;
    }
    try {
      req.body = JSON.parse(body.toString('utf8')) as unknown;
    } catch {
      res.status(400).json({ error: { code: ErrorCode.BAD_USER_INPUT, message: 'The body is not JSON' } });
      return;
    }
    res.locals.caller = caller;
    next();
  });
  const refuse = (res: express.Response, status: number, code: ErrorCode, message: string, extensions: Record<string, unknown> = {}) =>
    res.status(status).json({ error: { code, message, ...(typeof extensions.field === 'string' ? { field: extensions.field } : {}) } });

  router.post('/commands/:name', async (req, res) => {
    const caller = res.locals.caller as Service;
    const handler = handlers.commands?.[req.params.name ?? ''];
    if (!handler) return void refuse(res, 404, ErrorCode.NOT_FOUND, `${self} has no command "${req.params.name}"`);
    if (!handler.callers.includes(caller)) return void refuse(res, 403, ErrorCode.FORBIDDEN, `${caller} may not ask ${self} to ${req.params.name}`);
    const input = handler.input.safeParse(req.body);
    if (!input.success) return void refuse(res, 400, ErrorCode.BAD_USER_INPUT, `${req.params.name}: ${z.prettifyError(input.error)}`);
    const requestId = String(res.locals.requestId);
    try {
      res.json({ result: await handler.run(input.data, { caller, requestId, logger: logger.child({ requestId, caller }) }) });
    } catch (error) {
      if (error instanceof AppError && STATUS_OF[error.code]) {
        return void refuse(res, STATUS_OF[error.code] as number, error.code, error.message, error.extensions);
      }
      logger.error({ err: error, command: req.params.name, caller, requestId }, 'internal command failed');
      refuse(res, 500, ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error');
    }
  });

  router.post('/events', async (req, res) => {
    const source = res.locals.caller as Service;
    const event = EVENT.safeParse(req.body);
    if (!event.success) return void refuse(res, 400, ErrorCode.BAD_USER_INPUT, `event: ${z.prettifyError(event.error)}`);
    const handler = handlers.events?.[event.data.topic];
    if (!handler) return void refuse(res, 400, ErrorCode.BAD_USER_INPUT, `${self} does not take "${event.data.topic}" events`);
    if (!handler.from.includes(source)) return void refuse(res, 403, ErrorCode.FORBIDDEN, `${source} may not send "${event.data.topic}" events`);
    const payload = handler.payload.safeParse(event.data.payload);
    if (!payload.success) return void refuse(res, 400, ErrorCode.BAD_USER_INPUT, `${event.data.topic}: ${z.prettifyError(payload.error)}`);
    try {
      await handler.apply(payload.data, { eventId: event.data.eventId, source, createdAt: new Date(event.data.createdAt) });
      res.json({ applied: true });
    } catch (error) {
      if (error instanceof AppError && STATUS_OF[error.code]) return void refuse(res, STATUS_OF[error.code] as number, error.code, error.message);
      logger.error({ err: error, topic: event.data.topic, source, eventId: event.data.eventId }, 'event could not be applied');
      refuse(res, 500, ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error');
    }
  });
  app.use('/internal', router);
}

/** What one internal call answered: a result, or the error the other service refused with. */
export class InternalCallError extends Error {
  override name = 'InternalCallError';

  constructor(
    readonly service: Service,
    readonly status: number | null,
    message: string,
    readonly code?: string,
    readonly field?: string,
  ) {
    super(message);
  }

  /**
   * False only when the other service refused the call itself (400 bad input, 403 not allowed): asking
   * again will not change that. Anything else (unreachable, timed out, 5xx, a token it could not verify
   * yet, a route an older version lacks) may pass later.
   */
  get retryable(): boolean {
    return this.status !== 400 && this.status !== 403;
  }

  /**
   * True when the other service answered a command with a refusal of its own (bad input, not allowed,
   * not found, conflict): it did nothing, and the same command will get the same answer.
   */
  get refused(): boolean {
    return this.code !== undefined && this.code in STATUS_OF && this.status !== null && this.status < 500;
  }

  /**
   * The error to show the client who asked for it: the other service's refusal as it stated it (a conflict,
   * bad input...), or SUBGRAPH_UNAVAILABLE naming the service that could not answer.
   */
  toClientError(): AppError {
    const code = this.code as ErrorCode | undefined;
    if (code && code in STATUS_OF) return new AppError(code, this.message, this.field ? { field: this.field } : {});
    return new AppError(ErrorCode.SUBGRAPH_UNAVAILABLE, this.message, { serviceName: this.service });
  }
}

/** Calls other services' internal API. */
export interface InternalClient {
  command<R>(service: Service, name: string, input: unknown, options?: { requestId?: string }): Promise<R>;
  deliver(service: Service, event: { eventId: string; topic: string; payload: unknown; createdAt: Date }): Promise<void>;
  close(): Promise<void>;
}

/**
 * A client for other services' internal API, over keep-alive connections with a timeout per call.
 * undici's `request` rather than `fetch`, which refuses some ports a deployment may well use (6000...).
 */
export function createInternalClient(options: {
  identity: InternalIdentity;
  /** Each service's base URL (scheme, host, port). */
  peers: Record<Service, string>;
  timeoutMs: number;
}): InternalClient {
  const agent = new Agent({ connections: 16, keepAliveTimeout: 30_000 });
  const post = async (service: Service, pathname: string, payload: unknown, requestId?: string): Promise<unknown> => {
    const body = JSON.stringify(payload);
    let response;
    try {
      response = await request(new URL(pathname, options.peers[service]), {
        method: 'POST',
        dispatcher: agent,
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${await signCall(options.identity, service, pathname, body)}`,
          ...(requestId ? { 'x-request-id': requestId } : {}),
        },
        body,
        signal: AbortSignal.timeout(options.timeoutMs),
      });
    } catch (error) {
      const reason = (error as Error).name === 'TimeoutError' ? `did not answer within ${options.timeoutMs} ms` : 'could not be reached';
      throw new InternalCallError(service, null, `The ${service} service ${reason}`);
    }
    const text = await response.body.text();
    let parsed: { result?: unknown; error?: { code?: string; message?: string; field?: string } } = {};
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      // Reported below with the status.
    }
    if (response.statusCode >= 200 && response.statusCode < 300) return parsed.result;
    const { code, message, field } = parsed.error ?? {};
    throw new InternalCallError(service, response.statusCode, message ?? `The ${service} service answered HTTP ${response.statusCode}`, code, field);
  };
  return {
    async command<R>(service: Service, name: string, input: unknown, callOptions: { requestId?: string } = {}) {
      return (await post(service, `/internal/commands/${name}`, input, callOptions.requestId)) as R;
    },
    async deliver(service, event) {
      await post(service, '/internal/events', { ...event, createdAt: event.createdAt.toISOString() });
    },
    close: () => agent.close(),
  };
}
