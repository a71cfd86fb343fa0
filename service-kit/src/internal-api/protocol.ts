// The internal API's wire contract: its paths, the event envelope, and which refusals map to which HTTP status.
import { z } from 'zod';
import { ErrorCode } from '@fedstack/runtime';
import { storable } from '../text';

/**
 * The internal API is what services ask of each other (admin asks auth to suspend a user) and the events
 * they deliver (auth tells the others an account changed). It is served under /internal on each
 * service's port, which the gateway never routes to; `signing.ts` says how a call proves who sent it.
 */
export const INTERNAL_JWKS_PATH = '/internal/jwks.json';

/** An event as it travels: its id (receivers apply each once), topic, payload and commit time. */
export const EVENT = z.object({ eventId: z.uuid(), topic: z.string().min(1), payload: z.unknown(), createdAt: storable.instant() });

/** The refusals a command or event handler may answer with, and their HTTP status; anything else is a 500. */
export const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.BAD_USER_INPUT]: 400,
  [ErrorCode.FORBIDDEN]: 403,
  [ErrorCode.NOT_FOUND]: 404,
  [ErrorCode.CONFLICT]: 409,
};
