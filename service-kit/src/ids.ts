// Ids: the check on a UUID from a client, and an entity another subgraph owns, known by its id.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a UUID in canonical text form; ids from clients are checked before they reach SQL. */
export function isUuid(value: unknown): boolean {
  return typeof value === 'string' && UUID.test(value);
}

/** An entity another subgraph owns, as this subgraph knows it: by id alone. */
export interface EntityReference {
  id: string;
}
