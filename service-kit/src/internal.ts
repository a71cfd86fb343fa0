import { randomBytes } from 'node:crypto';
import express, { type Express } from 'express';
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import { Agent, request } from 'undici';
import { z } from 'zod';
import { ConfigError, isService, type Service } from '@fedstack/shared-db';
import { AppError, ErrorCode } from './errors';
import { developmentSecret } from './keys';
import type { Logger } from './logger';

/**
 * The internal API: what services ask of each other (admin asks auth to suspend a user) and the events
 * they deliver (auth tells the others an account changed). It is served under /internal on each service's
 * port, which the gateway never routes to, and every call carries a short-lived token signed with the
 * deployment's shared secret, naming the calling service (`iss`) and the service called (`aud`).
 */

const ALGORITHM = 'HS256';
const TOKEN_LIFETIME_SECONDS = 60;
const MIN_SECRET_LENGTH = 32;

/** The shared secret: INTERNAL_API_SECRET(_FILE) in production, a generated file in development. */
export async function resolveInternalSecret(config: { secret?: string; secretSetting?: string; developmentFile?: string }): Promise<Uint8Array> {
  if (config.secret !== undefined) {
    if (config.secret.trim().length < MIN_SECRET_LENGTH) {
      throw new ConfigError(`${config.secretSetting ?? 'INTERNAL_API_SECRET'} must be at least ${MIN_SECRET_LENGTH} characters`);
    }
    return new TextEncoder().encode(config.secret.trim());
  }
  if (!config.developmentFile) throw new ConfigError('INTERNAL_API_SECRET or INTERNAL_API_SECRET_FILE must be set in production');
  const secret = await developmentSecret(
    config.developmentFile,
    async () => randomBytes(32).toString('base64url'),
    (text) => {
      if (text.trim().length < MIN_SECRET_LENGTH) throw new Error('incomplete');
      return text.trim();
    },
    'internal API secret',
  );
  return new TextEncoder().encode(secret);
}

/** Signs this service's internal calls, reusing a token until it is half-way to expiry. */
export function internalTokenSigner(self: Service, secret: Uint8Array): (audience: Service) => Promise<string> {
  const cache = new Map<Service, { token: string; renewAt: number }>();
  return async (audience) => {
    const cached = cache.get(audience);
    if (cached && cached.renewAt > Date.now()) return cached.token;
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: ALGORITHM })
      .setIssuer(self)
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime(`${TOKEN_LIFETIME_SECONDS}s`)
      .sign(secret);
    cache.set(audience, { token, renewAt: Date.now() + (TOKEN_LIFETIME_SECONDS / 2) * 1000 });
    return token;
  };
}

/** The calling service, if the request carries a valid internal token addressed to `self`; otherwise null. */
export async function verifyInternalCaller(header: string | undefined, self: Service, secret: Uint8Array): Promise<Service | null> {
  const token = /^Bearer (\S+)$/.exec(header ?? '')?.[1];
  if (!token) return null;
  try {
    const { payload } = await jwtVerify(token, secret, { algorithms: [ALGORITHM], audience: self, requiredClaims: ['iss', 'exp'] });
    return typeof payload.iss === 'string' && isService(payload.iss) ? payload.iss : null;
  } catch (error) {
    if (error instanceof joseErrors.JOSEError) return null;
    throw error;
  }
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
 * Serves POST /internal/commands/<name> and POST /internal/events. A call without a valid token for this
 * service, from a service the handler does not accept, or with a body its schema refuses, is answered
 * 401, 403 or 400 and changes nothing. A command's own refusals (AppError) keep their code and message.
 */
export function internalRoutes(app: Express, options: { self: Service; secret: Uint8Array; handlers: InternalHandlers; logger: Logger; bodyLimitBytes: number }): void {
  const { self, secret, handlers, logger } = options;
  const router = express.Router();
  router.use(async (req, res, next) => {
    const caller = await verifyInternalCaller(req.headers.authorization, self, secret).catch(next);
    if (!caller) {
      res.status(401).json({ error: { code: ErrorCode.UNAUTHENTICATED, message: 'Internal calls need a valid service token' } });
      return;
    }
    res.locals.caller = caller;
    next();
  });
  router.use(express.json({ limit: options.bodyLimitBytes }));
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
      res.json({ result: await handler.run(input.data as never, { caller, requestId, logger: logger.child({ requestId, caller }) }) });
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
      await handler.apply(payload.data as never, { eventId: event.data.eventId, source, createdAt: new Date(event.data.createdAt) });
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
  self: Service;
  secret: Uint8Array;
  /** Each service's base URL (scheme, host, port). */
  peers: Record<Service, string>;
  timeoutMs: number;
}): InternalClient {
  const sign = internalTokenSigner(options.self, options.secret);
  const agent = new Agent({ connections: 16, keepAliveTimeout: 30_000 });
  const post = async (service: Service, pathname: string, body: unknown, requestId?: string): Promise<unknown> => {
    let response;
    try {
      response = await request(new URL(pathname, options.peers[service]), {
        method: 'POST',
        dispatcher: agent,
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${await sign(service)}`,
          ...(requestId ? { 'x-request-id': requestId } : {}),
        },
        body: JSON.stringify(body),
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
