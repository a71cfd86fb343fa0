import { spawn } from 'node:child_process';
import path from 'node:path';
import { EXIT_UNAVAILABLE, REPOSITORY_ROOT, RESTART_POLICY, pollUntil } from '@fedstack/runtime';
import { LIVENESS, Supervisor, type Running, type Supervised } from './supervisor';

/** A process whose death the test decides; a start gets ready unless `readies` says not (it then dies before, as the test says). */
function fakeUnit(name: string, log: string[], readies: () => boolean = () => true) {
  const deaths: ((how: string) => void)[] = [];
  const unit: Supervised & { die(how: string): void } = {
    name,
    start(): Running {
      log.push(`start ${name}`);
      return {
        ready: readies() ? Promise.resolve() : new Promise<void>(() => undefined),
        exited: new Promise((resolve) => deaths.push(resolve)),
        stop: async () => void log.push(`stop ${name}`),
      };
    },
    die: (how) => deaths.at(-1)?.(how),
  };
  return unit;
}

describe('Supervisor', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  function supervisor(log: string[], givenUp: string[]) {
    return new Supervisor(
      { info: (line) => log.push(line), error: (line) => log.push(line) },
      (reason) => givenUp.push(reason),
      RESTART_POLICY,
      () => Date.now(),
    );
  }

  it('restarts a process that died, after the wait it announces, and stops everything past the limit', async () => {
    const log: string[] = [];
    const givenUp: string[] = [];
    const watcher = supervisor(log, givenUp);
    const payments = fakeUnit('payments', log);
    watcher.watch(payments, payments.start());
    watcher.supervise();

    payments.die('signal SIGKILL');
    await jest.advanceTimersByTimeAsync(999);
    expect(log).toEqual(['start payments', 'payments stopped unexpectedly (signal SIGKILL); restarting it in 1 s (restart 1 of 5 allowed within 10 minutes)']);
    await jest.advanceTimersByTimeAsync(1);
    expect(log.slice(2)).toEqual(['start payments', 'payments restarted and ready.']);

    for (const wait of [2000, 4000, 8000, 16000]) {
      payments.die('exit code 1');
      await jest.advanceTimersByTimeAsync(wait);
    }
    expect(givenUp).toEqual([]);
    payments.die('exit code 1');
    await jest.advanceTimersByTimeAsync(0);
    expect(givenUp).toEqual(['payments stopped unexpectedly 6 times within 10 minutes (last: exit code 1)']);
  });

  it('starts again, for as long as it takes and without using up its restarts, a process that could not reach its database (it stopped everything)', async () => {
    const log: string[] = [];
    const givenUp: string[] = [];
    const watcher = supervisor(log, givenUp);
    let databaseUp = false;
    const profile = fakeUnit('profile', log, () => databaseUp);
    watcher.watch(profile, profile.start());
    watcher.supervise();
    profile.die('signal SIGKILL');
    await jest.advanceTimersByTimeAsync(1000);
    // Its database down: each start ends so, the waits doubling up to the policy's longest.
    for (const wait of [1000, 2000, 4000, 8000, 16000, 30000, 30000]) {
      profile.die(`exit code ${EXIT_UNAVAILABLE}`);
      await jest.advanceTimersByTimeAsync(wait);
    }
    databaseUp = true;
    profile.die(`exit code ${EXIT_UNAVAILABLE}`);
    await jest.advanceTimersByTimeAsync(30000);
    expect(givenUp).toEqual([]);
    expect(log.filter((line) => line.startsWith('profile could not')).at(-1)).toBe(
      'profile could not reach its database (exit code 75); starting it again in 30 s, for as long as that takes',
    );
    expect(log.at(-1)).toBe('profile restarted and ready.');
    // Back from the outage, its next wait for the database starts from the first again.
    profile.die(`exit code ${EXIT_UNAVAILABLE}`);
    await jest.advanceTimersByTimeAsync(0);
    expect(log.at(-1)).toBe('profile could not reach its database (exit code 75); starting it again in 1 s, for as long as that takes');
    await watcher.stop([[profile]]);
  });

  it('leaves stopped, past the limit, a process the stack can do without (the replica), and stops nothing else', async () => {
    const log: string[] = [];
    const givenUp: string[] = [];
    const watcher = supervisor(log, givenUp);
    const replica = { ...fakeUnit('the replica', log), without: 'reads go to the primary' };
    watcher.watch(replica, replica.start());
    watcher.supervise();
    for (const wait of [1000, 2000, 4000, 8000, 16000]) {
      replica.die('signal SIGKILL');
      await jest.advanceTimersByTimeAsync(wait);
    }
    replica.die('signal SIGKILL');
    await jest.advanceTimersByTimeAsync(60_000);
    expect(givenUp).toEqual([]);
    expect(log.slice(-2)).toEqual([
      'the replica restarted and ready.',
      'the replica stopped unexpectedly 6 times within 10 minutes (last: signal SIGKILL); leaving it stopped: reads go to the primary',
    ]);
  });

  it('kills, and restarts as a death, a ready process that stops answering its liveness check (a hung gateway ran on, deaf, for hours)', async () => {
    const log: string[] = [];
    const watcher = supervisor(log, []);
    let answering = true;
    const deaths: ((how: string) => void)[] = [];
    const gateway: Supervised = {
      name: 'gateway',
      start: () => {
        log.push('start gateway');
        return {
          ready: Promise.resolve(),
          exited: new Promise((resolve) => deaths.push(resolve)),
          stop: async () => undefined,
          liveness: { check: async () => answering, kill: () => deaths.at(-1)?.('signal SIGKILL') },
        };
      },
    };
    watcher.watch(gateway, gateway.start());
    watcher.supervise();
    await jest.advanceTimersByTimeAsync(60_000);
    expect(log).toEqual(['start gateway']);
    answering = false;
    // Five checks missed are not yet a hang: an answer resets the count.
    await jest.advanceTimersByTimeAsync(5 * LIVENESS.everyMs);
    answering = true;
    await jest.advanceTimersByTimeAsync(LIVENESS.everyMs);
    answering = false;
    await jest.advanceTimersByTimeAsync(5 * LIVENESS.everyMs);
    expect(log).toEqual(['start gateway']);
    await jest.advanceTimersByTimeAsync(LIVENESS.everyMs);
    answering = true;
    await jest.advanceTimersByTimeAsync(1000);
    expect(log).toEqual([
      'start gateway',
      'gateway has not answered its liveness check for 30 s (hung); killing it (SIGKILL)',
      'gateway stopped unexpectedly (signal SIGKILL); restarting it in 1 s (restart 1 of 5 allowed within 10 minutes)',
      'start gateway',
      'gateway restarted and ready.',
    ]);
    await watcher.stop([[gateway]]);
  });

  it('leaves a death while the stack starts to the start-up, and drops a pending restart when stopping, stopping groups in order', async () => {
    const log: string[] = [];
    const givenUp: string[] = [];
    const watcher = supervisor(log, givenUp);
    const gateway = fakeUnit('gateway', log);
    const auth = fakeUnit('auth', log);
    const database = fakeUnit('database', log);
    for (const unit of [gateway, auth, database]) watcher.watch(unit, unit.start());
    auth.die('exit code 1');
    await jest.advanceTimersByTimeAsync(60_000);
    expect(log).toEqual(['start gateway', 'start auth', 'start database']);

    watcher.supervise();
    gateway.die('signal SIGKILL');
    await jest.advanceTimersByTimeAsync(0);
    await watcher.stop([[gateway], [auth], [database]]);
    await jest.advanceTimersByTimeAsync(60_000);
    expect(log.slice(3)).toEqual([expect.stringMatching(/^gateway stopped unexpectedly/), 'stop gateway', 'stop auth', 'stop database']);
    expect(givenUp).toEqual([]);
  });
});

describe('whenOrphaned', () => {
  it('tells a process run as npm runs a script (from a shell that forks it) that the shell is gone, as after a SIGTERM to npm', async () => {
    const built = path.join(REPOSITORY_ROOT, 'scripts', 'dist', 'supervisor.js');
    const code = `require(${JSON.stringify(built)}).whenOrphaned(() => { console.log("orphaned"); process.exit(0); }, 50); console.log("running " + process.pid); setInterval(() => {}, 1000);`;
    // `a && b`, as the start script is written: the shell forks node rather than giving it its place.
    const shell = spawn('sh', ['-c', `true && ${JSON.stringify(process.execPath)} -e '${code}'`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    shell.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const pid = Number((await pollUntil('the script running', async () => /running (\d+)/.exec(output)?.[1], { timeoutMs: 10_000, intervalMs: 20 })) ?? 0);
    try {
      shell.kill('SIGTERM');
      await pollUntil('the process told', async () => output.includes('orphaned') || undefined, { timeoutMs: 5000, intervalMs: 20 });
    } finally {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone, as it should be.
      }
    }
  });
});
