// The HTTP plumbing around GraphQL: request ids, the operational routes, HTTP errors as JSON, and listening on a port.
import { context, trace } from '@opentelemetry/api';
import { getRPCMetadata } from '@opentelemetry/core';
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { Express, NextFunction, Request, Response } from 'express';
import type { Logger } from './logger';
import { scrapeText, type ServiceMetrics } from './metrics';
import { serverUrl } from './net';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The request id a client or the gateway sent in `x-request-id`, if well-formed, or a new one. */
export function requestIdOf(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value && REQUEST_ID.test(value) ? value : randomUUID();
}

/**
 * The token of an `Authorization: Bearer <token>` value (RFC 6750's b64token), or undefined for anything
 * else. Over WebSocket the value comes from JSON, where it can hold what no HTTP header can (a newline,
 * a NUL, "€"): checked before it goes on as a header.
 */
export function bearerToken(authorization: string): string | undefined {
  return /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(authorization.trim())?.[1];
}

/** Gives every request an id (echoed in the response) for logs on both sides. */
function requestIdMiddleware(req: Request, res: Response, next: NextFunction): void {
  const requestId = requestIdOf(req.headers['x-request-id']);
  res.locals.requestId = requestId;
  res.setHeader('x-request-id', requestId);
  // With tracing on, the request's HTTP span carries the id the logs use (a no-op otherwise).
  (getRPCMetadata(context.active())?.span ?? trace.getActiveSpan())?.setAttribute('fedstack.request_id', requestId);
  next();
}

/**
 * Errors raised before GraphQL sees the request (a body over the limit, malformed JSON) answered as
 * GraphQL-shaped JSON rather than Express's HTML page with a stack trace.
 */
export function httpErrorHandler(logger: Logger) {
  return (error: Error & { status?: number; type?: string }, _req: Request, res: Response, next: NextFunction): void => {
    if (res.headersSent) return next(error);
    const status = error.status && error.status >= 400 && error.status < 500 ? error.status : 500;
    if (status === 500) logger.error({ err: error, requestId: res.locals.requestId }, 'unhandled HTTP error');
    const message =
      error.type === 'entity.too.large' ? 'Request body is larger than this server accepts' : status === 500 ? 'Internal server error' : error.message;
    res.status(status).json({ errors: [{ message, extensions: { code: status === 500 ? 'INTERNAL_SERVER_ERROR' : 'BAD_REQUEST' } }] });
  };
}

/** Listens, turning "port in use" into a message that names the process and the setting. */
export function listen(
  server: Server,
  port: number,
  host: string,
  name: string,
  setting = `${name.toUpperCase()}_PORT`,
): Promise<{ port: number; url: string }> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(error.code === 'EADDRINUSE' ? new Error(`${name} cannot listen on ${host}:${port}: the port is in use (set ${setting})`) : error);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const address = server.address();
      const actualPort = typeof address === 'object' && address ? address.port : port;
      resolve({ port: actualPort, url: serverUrl(host, actualPort) });
    });
  });
}

/** Logs a metric left out of a scrape because its collector failed. */
export function metricFailed(logger: Logger) {
  return (metric: string, error: unknown) =>
    logger.warn({ metric, reason: error instanceof Error ? error.message : String(error) }, 'a metric could not be collected; left out of this scrape');
}

/**
 * What every process serves besides GraphQL: request ids, `GET /healthz` (alive), `GET /readyz` (ready
 * when `checkReady` resolves; 503 with its reason when it throws) and `GET /metrics` when given metrics.
 */
export function operationalRoutes(
  app: Express,
  options: { trustProxy: string | false; metrics?: ServiceMetrics; logger: Logger; checkReady(): Promise<void> },
): void {
  app.disable('x-powered-by');
  app.set('trust proxy', options.trustProxy);
  app.use(requestIdMiddleware);
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    try {
      await options.checkReady();
      res.json({ status: 'ready' });
    } catch (error) {
      const reason = (error as Error).message;
      options.logger.warn({ reason }, 'readiness check failed');
      res.status(503).json({ status: 'unavailable', reason });
    }
  });
  const { metrics } = options;
  if (metrics) {
    app.get('/metrics', async (_req, res) => {
      res.type(metrics.registry.contentType).send(await scrapeText(metrics.registry, metricFailed(options.logger)));
    });
  }
}
