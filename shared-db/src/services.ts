// The PostgreSQL role a service connects as.
import type { Service } from '@fedstack/runtime';

export function serviceRole(service: Service): string {
  return `${service}_svc`;
}
