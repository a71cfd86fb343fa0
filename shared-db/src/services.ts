/** The four services; each owns the PostgreSQL schema of the same name. */
export const SERVICES = ['auth', 'profile', 'payments', 'admin'] as const;
export type Service = (typeof SERVICES)[number];

/** The PostgreSQL role a service connects as. */
export function serviceRole(service: Service): string {
  return `${service}_svc`;
}

export function isService(value: string): value is Service {
  return (SERVICES as readonly string[]).includes(value);
}
