import { z } from 'zod';
import type { ServiceClient } from '@fedstack/shared-db';
import { command, ERASE_COMMAND, type InternalHandlers } from '@fedstack/service-kit';
import { eraseUser, reinstateUser, setUserRole, suspendUser } from './domain/accounts';

const ID = z.uuid().transform((id) => id.toLowerCase());
const ACTOR = z.object({ userId: ID, requestId: z.string().max(128) });
/** The longest reason auth records; admin checks the same bound first, for its own error message. */
export const REASON_MAX = 500;

/** What admin may ask of auth: the account actions, each done and audited in one of auth's transactions. */
export function authCommands(db: ServiceClient<'auth'>, accessTokenTtlSeconds: number): InternalHandlers {
  return {
    commands: {
      suspendUser: command({
        callers: ['admin'],
        input: z.object({ actor: ACTOR, userId: ID, reason: z.string().trim().min(1).max(REASON_MAX) }),
        run: ({ actor, userId, reason }) => suspendUser(db, actor, userId, reason, accessTokenTtlSeconds),
      }),
      reinstateUser: command({
        callers: ['admin'],
        input: z.object({ actor: ACTOR, userId: ID }),
        run: ({ actor, userId }) => reinstateUser(db, actor, userId),
      }),
      setUserRole: command({
        callers: ['admin'],
        input: z.object({ actor: ACTOR, userId: ID, role: z.enum(['USER', 'ADMIN']) }),
        run: ({ actor, userId, role }) => setUserRole(db, actor, userId, role),
      }),
      [ERASE_COMMAND]: command({
        callers: ['admin'],
        input: z.object({ actor: ACTOR, userId: ID }),
        run: ({ actor, userId }) => eraseUser(db, actor, userId, accessTokenTtlSeconds),
      }),
    },
  };
}
