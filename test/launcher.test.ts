import { freePort } from '@fedstack/runtime';
import { launch, launchSettings, type Launch } from './launch';

// `npm start` as a user runs it; what a healthy start looks like is in readme.test.ts.

describe('npm start', () => {
  const settings = launchSettings();
  let run: Launch | undefined;
  afterAll(async () => {
    // Still running only if the test failed or timed out: it leaves nothing running.
    if (run?.child.exitCode === null) {
      run.child.kill('SIGINT');
      await run.exited;
    }
    await settings.drop();
  });

  it('does not say it is ready when the gateway cannot reach a subgraph, and says which', async () => {
    const env = await settings.next();
    // An explicit routing URL wins over the port the launcher started payments on: here, a closed one.
    run = launch({ ...env, PAYMENTS_SUBGRAPH_URL: `http://127.0.0.1:${await freePort()}/graphql` });
    expect(await run.exited).toBe(1);
    expect(run.output()).not.toContain('Everything is ready');
    expect(run.output()).toMatch(/error: the first query through the gateway, which every subgraph answers part of, failed: .*\(payments\)/);
  }, 180_000);
});
