import type { Service } from '@fedstack/runtime';

/** The PostgreSQL role a service connects as. */
export function serviceRole(service: Service): string {
  return `${service}_svc`;
}
