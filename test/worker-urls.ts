// Where each Jest worker's copy of the run's databases is: test/global-setup.ts makes them, and
// test/worker-env.ts points a test file's settings at its worker's. Global setup hands the workers the
// settings that place the run's databases (the templates, which no test connects to) as a JSON object in
// TEST_DATABASE_TEMPLATES. Imports nothing: worker-env runs before every test file, and a file that needs
// no database should not load the database libraries for it.

/** Worker `worker`'s copy of the database `templateUrl` names: the same server and user, `<database>_w<worker>`. */
function workerDatabaseUrl(templateUrl: string, worker: number | string): string {
  const url = new URL(templateUrl);
  url.pathname = `${url.pathname}_w${worker}`;
  return url.toString();
}

/** The settings that place worker `worker`'s databases, from those that place the templates. */
export function workerDatabaseSettings(templates: Record<string, string>, worker: number | string): Record<string, string> {
  return Object.fromEntries(Object.entries(templates).map(([variable, url]) => [variable, workerDatabaseUrl(url, worker)]));
}
