// What admin may ask of auth: the account actions, each done and audited in one of auth's transactions.
import { z } from 'zod';
import type { ServiceClient } from '@fedstack/shared-db';
import { command, ERASE_COMMAND, REASON_MAX, UUID_ID, type InternalHandlers } from '@fedstack/service-kit';
import { eraseUser, reinstateUser, setUserRole, suspendUser } from './domain/accounts';
import type { ThrottleKeys } from './domain/throttle';

const ACTOR = z.object({ userId: UUID_ID, requestId: z.string().max(128) });

export function authCommands(db: ServiceClient<'auth'>, throttleKeys: ThrottleKeys): InternalHandlers {
  return {
    commands: {
      suspendUser: command({
        callers: ['admin'],
        input: z.object({
          actor: ACTOR,
          userId: UUID_ID,
          reason: z
            .string()
            .trim()
            .min(1)
            .refine((reason) => [...reason].length <= REASON_MAX, `at most ${REASON_MAX} characters`),
        }),
        run: ({ actor, userId, reason }) => suspendUser(db, actor, userId, reason),
      }),
      reinstateUser: command({
        callers: ['admin'],
        input: z.object({ actor: ACTOR, userId: UUID_ID }),
        run: ({ actor, userId }) => reinstateUser(db, actor, userId),
      }),
      setUserRole: command({
        callers: ['admin'],
        input: z.object({ actor: ACTOR, userId: UUID_ID, role: z.enum(['USER', 'ADMIN']) }),
        run: ({ actor, userId, role }) => setUserRole(db, actor, userId, role),
      }),
      [ERASE_COMMAND]: command({
        callers: ['admin'],
        input: z.object({ actor: ACTOR, userId: UUID_ID }),
        run: ({ actor, userId }) => eraseUser(db, actor, userId, throttleKeys),
      }),
    },
  };
}
