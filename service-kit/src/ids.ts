// Ids: the check on a UUID from a client, and an entity another subgraph owns, known by its id.
import { z } from 'zod';
import { badUserInput } from '@fedstack/runtime';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a UUID in canonical text form; ids from clients are checked before they reach SQL. */
export function isUuid(value: unknown): boolean {
  return typeof value === 'string' && UUID.test(value);
}

/**
 * An id in a call between services: what `isUuid` lets in from a client (any UUID PostgreSQL's `uuid`
 * takes, of whatever version), lower-cased. zod's `z.uuid()` takes only RFC 9562's versions and variant:
 * an id admin had let through came back from auth as an internal refusal, without the field.
 */
export const UUID_ID = z
  .string()
  .refine(isUuid, 'must be a UUID')
  .transform((id) => id.toLowerCase());

/**
 * An id as PostgreSQL gives it back: a UUID in lower case (a UUID is the same id in either case; an
 * upper-case payment id found nothing, though the refund naming it went through), anything else as it is.
 */
export function canonicalId<T>(value: T): T {
  return typeof value === 'string' && UUID.test(value) ? (value.toLowerCase() as T) : value;
}

/** An entity another subgraph owns, as this subgraph knows it: by id alone. */
export interface EntityReference {
  id: string;
}

/**
 * The entity a representation in `_entities` names, by its id: BAD_USER_INPUT for one without an id, or
 * whose id is not text (an object, a number). The gateway always sends one; a client calling a subgraph
 * directly got INTERNAL_SERVER_ERROR ("Cannot return null for non-nullable field User.id").
 */
export function entityReference(reference: { id?: unknown }): EntityReference {
  if (typeof reference.id !== 'string') {
    throw badUserInput('representations', `each must hold the entity's "id" as a string (got ${reference.id === undefined ? 'no id' : typeof reference.id})`);
  }
  return { id: reference.id };
}
