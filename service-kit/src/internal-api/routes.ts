// Serving the internal API: the commands and events a service accepts, each checked for caller and shape before it runs.
import express, { type Express } from 'express';
import { z } from 'zod';
import { type Service, AppError, CallerGoneError, ErrorCode, WAL_POSITIONS_HEADER, forCallerUntil, logThrottle, type Logger } from '@fedstack/runtime';
import { databaseOutage } from '../database-outage';
import { EVENT, STATUS_OF } from './protocol';
import type { ReplayGuard } from './replay';
import type { InternalCallVerifier, InternalIdentity, RefusedCall, VerifiedCall } from './signing';

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

/**
 * Serves POST /internal/commands/<name> and POST /internal/events, and this service's public key at
 * /internal/jwks.json. A call without a valid token from another service, a replay of a call already
 * accepted (by any replica: `firstUse`), a call from a service the handler does not accept, or with a
 * body its schema refuses, is answered 401, 403 or 400 and changes nothing. A command's own refusals
 * (AppError) keep their code and message.
 */
export function internalRoutes(
  app: Express,
  options: {
    identity: InternalIdentity;
    verify: InternalCallVerifier;
    firstUse: ReplayGuard;
    handlers: InternalHandlers;
    logger: Logger;
    bodyLimitBytes: number;
    /**
     * With replicas: the primary's WAL position, given after each command that ran (in `x-wal-positions`),
     * so that the caller's client reads what the command wrote (docs/adr/0012-read-replicas.md); undefined
     * when there is none to give. It never fails: the command has committed.
     */
    position?: () => Promise<string | undefined>;
  },
): void {
  const { identity, verify, firstUse, handlers, logger } = options;
  const self = identity.self;
  const refusals = logThrottle();
  const unauthenticated = (res: express.Response) =>
    res.status(401).json({ error: { code: ErrorCode.UNAUTHENTICATED, message: 'Internal calls need a valid token signed by the calling service' } });
  const router = express.Router();
  router.get('/jwks.json', (_req, res) => {
    res.set('cache-control', 'public, max-age=60').json({ keys: identity.published });
  });
  // The raw body is what the caller signed; it is parsed only once the signature is checked.
  router.use(express.raw({ type: () => true, limit: options.bodyLimitBytes }));
  router.use(async (req, res, next) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    let call: VerifiedCall | RefusedCall;
    try {
      call = await verify(req.headers.authorization, req.originalUrl, body);
      if ('tokenId' in call && !(await firstUse(call.tokenId, call.expiresAt))) {
        // A token seen before is refused like any other bad token, but said every time: it was captured somewhere.
        logger.warn({ caller: call.caller, path: req.originalUrl, requestId: res.locals.requestId }, 'refused a replayed internal call');
        return void unauthenticated(res);
      }
    } catch (error) {
      if (!outage(res, error, { path: req.originalUrl })) next(error);
      return;
    }
    if ('refused' in call) {
      // The caller is told only that the token would not do; the operator why, once every few seconds per
      // service whose signature checked out, and once for all the rest (anyone who reaches the port may
      // send those, naming any service: it is a claim, and they must not crowd out a service's own).
      const { refused: reason, caller, verified } = call;
      const named = verified ? { caller } : { claimedCaller: caller, clientAddress: req.socket.remoteAddress };
      refusals(verified ? String(caller) : 'unverified', (suppressed) =>
        logger.warn({ ...named, path: req.originalUrl, requestId: res.locals.requestId, reason, suppressed }, 'refused an internal call'),
      );
      return void unauthenticated(res);
    }
    try {
      req.body = JSON.parse(body.toString('utf8')) as unknown;
    } catch {
      res.status(400).json({ error: { code: ErrorCode.BAD_USER_INPUT, message: 'The body is not JSON' } });
      return;
    }
    res.locals.caller = call.caller;
    res.locals.callerWaitsUntil = call.expiresAt.getTime();
    next();
  });
  const refuse = (res: express.Response, status: number, code: ErrorCode, message: string, extensions: Record<string, unknown> = {}) =>
    res.status(status).json({ error: { code, message, ...(typeof extensions.field === 'string' ? { field: extensions.field } : {}) } });
  /**
   * Answers 503, as its GraphQL endpoint does, when this service cannot reach its database, and says
   * whether it did: it answered 500 "Internal server error" (logged with a stack), which callers passed
   * on as "The auth service answered HTTP 500" under their own name.
   */
  const unavailable = databaseOutage(self);
  const outage = (res: express.Response, error: unknown, context: Record<string, unknown>): boolean => {
    const refusal = unavailable(error);
    if (!refusal) return false;
    logger.warn({ ...context, requestId: res.locals.requestId, reason: refusal.message }, 'internal call refused: the database cannot be reached');
    refuse(res, 503, ErrorCode.SUBGRAPH_UNAVAILABLE, refusal.message);
    return true;
  };

  router.post('/commands/:name', async (req, res) => {
    const caller = res.locals.caller as Service;
    // Own properties only: "constructor" or "toString" named no command, yet found one (a 500).
    const name = req.params.name ?? '';
    const handler = handlers.commands && Object.hasOwn(handlers.commands, name) ? handlers.commands[name] : undefined;
    if (!handler) return void refuse(res, 404, ErrorCode.NOT_FOUND, `${self} has no command "${req.params.name}"`);
    if (!handler.callers.includes(caller)) return void refuse(res, 403, ErrorCode.FORBIDDEN, `${caller} may not ask ${self} to ${req.params.name}`);
    const input = handler.input.safeParse(req.body);
    if (!input.success) return void refuse(res, 400, ErrorCode.BAD_USER_INPUT, `${req.params.name}: ${z.prettifyError(input.error)}`);
    const requestId = String(res.locals.requestId);
    try {
      // Its transactions commit only while its caller waits (the token's expiry): one that waited on a lock past it is rolled back.
      const result = await forCallerUntil(Number(res.locals.callerWaitsUntil), () =>
        handler.run(input.data, { caller, requestId, logger: logger.child({ requestId, caller }) }),
      );
      const position = await options.position?.();
      if (position) res.set(WAL_POSITIONS_HEADER, `${self}=${position}`);
      res.json({ result });
    } catch (error) {
      if (error instanceof AppError && STATUS_OF[error.code]) {
        return void refuse(res, STATUS_OF[error.code] as number, error.code, error.message, error.extensions);
      }
      if (outage(res, error, { command: req.params.name, caller })) return;
      if (error instanceof CallerGoneError) {
        logger.warn({ command: req.params.name, caller, requestId, reason: error.message }, 'internal command outlasted its caller’s wait: not done');
        return void refuse(res, 504, ErrorCode.SUBGRAPH_UNAVAILABLE, `${req.params.name}: ${error.message}`);
      }
      logger.error({ err: error, command: req.params.name, caller, requestId }, 'internal command failed');
      refuse(res, 500, ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error');
    }
  });

  router.post('/events', async (req, res) => {
    const source = res.locals.caller as Service;
    const event = EVENT.safeParse(req.body);
    if (!event.success) return void refuse(res, 400, ErrorCode.BAD_USER_INPUT, `event: ${z.prettifyError(event.error)}`);
    const { topic } = event.data;
    const handler = handlers.events && Object.hasOwn(handlers.events, topic) ? handlers.events[topic] : undefined;
    if (!handler) return void refuse(res, 400, ErrorCode.BAD_USER_INPUT, `${self} does not take "${event.data.topic}" events`);
    if (!handler.from.includes(source)) return void refuse(res, 403, ErrorCode.FORBIDDEN, `${source} may not send "${event.data.topic}" events`);
    const payload = handler.payload.safeParse(event.data.payload);
    if (!payload.success) return void refuse(res, 400, ErrorCode.BAD_USER_INPUT, `${event.data.topic}: ${z.prettifyError(payload.error)}`);
    try {
      await handler.apply(payload.data, { eventId: event.data.eventId, source, createdAt: new Date(event.data.createdAt) });
      res.json({ applied: true });
    } catch (error) {
      if (error instanceof AppError && STATUS_OF[error.code]) return void refuse(res, STATUS_OF[error.code] as number, error.code, error.message);
      if (outage(res, error, { topic: event.data.topic, source })) return;
      logger.error({ err: error, topic: event.data.topic, source, eventId: event.data.eventId }, 'event could not be applied');
      refuse(res, 500, ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error');
    }
  });
  app.use('/internal', router);
}
