// Where a Jest worker's copy of a run's database is. Imports nothing: test/worker-env.ts runs it before
// every test file, and a file that needs no database should not load the database libraries for it.

/** Worker `worker`'s copy of the database `templateUrl` names: the same server and user, `<database>_w<worker>`. */
export function workerDatabaseUrl(templateUrl: string, worker: number | string): string {
  const url = new URL(templateUrl);
  url.pathname = `${url.pathname}_w${worker}`;
  return url.toString();
}

/** The settings that place worker `worker`'s databases, from those that place the templates. */
export function workerDatabaseSettings(templates: Record<string, string>, worker: number | string): Record<string, string> {
  return Object.fromEntries(Object.entries(templates).map(([variable, url]) => [variable, workerDatabaseUrl(url, worker)]));
}
