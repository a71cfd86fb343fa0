// Points this test file at its Jest worker's own copy of the run's databases (one, or one per service in
// the split layout), so that files running at the same time never see each other's rows.
import { workerDatabaseSettings } from './worker-urls';

const templates = process.env.TEST_DATABASE_TEMPLATES;
if (templates) {
  // Jest numbers its workers from 1 (and runs in band as worker 1); global setup made a copy for each.
  Object.assign(process.env, workerDatabaseSettings(JSON.parse(templates) as Record<string, string>, process.env.JEST_WORKER_ID ?? '1'));
}
