const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a UUID in canonical text form; ids from clients are checked before they reach SQL. */
export function isUuid(value: unknown): boolean {
  return typeof value === 'string' && UUID.test(value);
}
