// `npm run bench:subscriptions:profile`: where the CPU of a subscriptions row goes: every process's CPU per committed change, and V8's CPU profiles of the gateway, payments and the driver over the measured window.
import { chmodSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { REPOSITORY_ROOT, SERVICES, STACK, readSettings, runMain } from '@fedstack/runtime';
import { ownerUrlFor } from '@fedstack/shared-db';
import { postgresServer, treeOf } from './cpu';
import { summariseCpuProfile, type Share } from './profiles';
import { BENCH_SETTINGS } from './settings';
import { startBenchStack } from './stack';
import { paymentDriver, type PaymentPath } from './subscriptions-driver';
import { OUR_GATEWAY, measureSubscriptions, type SubscriptionRow } from './subscriptions-measure';

/**
 * On the Node running this. Arguments (all optional):
 *   --roots <dir>,<dir>   built checkouts to run the stack from, in turn (A/B in alternating rows); this one when absent
 *   --repeat <n>          rounds over the roots (2 by default)
 *   --no-profile          CPU per change only, without V8's profilers (which cost time themselves)
 *   --payments <path>     how payments are committed: `gateway` (by default) or `sql` (payments' own code in the driver)
 * The row is BENCH_SUBSCRIBERS' first count at BENCH_SUBSCRIPTION_EVENTS_PER_SECOND for BENCH_SUBSCRIPTION_SECONDS.
 */
function argument(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

const table = (head: string[], rows: string[][]) => [
  `| ${head.join(' | ')} |`,
  `| ${head.map(() => '---').join(' | ')} |`,
  ...rows.map((cells) => `| ${cells.join(' | ')} |`),
];
const shares = (list: Share[]) =>
  list.map((share) => [`\`${share.label.replaceAll('|', '\\|')}\``, `${share.value.toFixed(0)} ms`, `${share.percent.toFixed(1)} %`]);

runMain(async () => {
  const settings = readSettings(process.env, BENCH_SETTINGS);
  const roots = (argument('--roots') ?? '').split(',').filter(Boolean);
  const repeat = Number(argument('--repeat') ?? 2);
  const profiling = !process.argv.includes('--no-profile');
  const paymentPath: PaymentPath = argument('--payments') === 'sql' ? 'payments SQL' : 'gateway';
  const subscribers = settings.BENCH_SUBSCRIBERS[0] ?? 1000;
  const directory = path.join(REPOSITORY_ROOT, 'bench', 'results', 'subscription-profiles');
  rmSync(directory, { recursive: true, force: true });
  const stack = await startBenchStack('shared', { workers: 1 });
  // The benchmark's own PostgreSQL server, not every one on the machine (tests run beside it start their own).
  const postgres = await postgresServer(ownerUrlFor('payments', stack.databaseEnv));
  const lines: string[] = [];
  try {
    const runs = (roots.length > 0 ? roots : [undefined]).map((root) => ({ root, label: root ? path.basename(root) : 'this checkout' }));
    for (let round = 0; round < repeat; round += 1) {
      for (const run of runs) {
        await stack.stop();
        const rowDirectory = path.join(directory, `${round + 1}-${run.label}`);
        // Another checkout's processes are started without the stack's Node options: the wrapper adds them back.
        const wrapper = (name: string) => {
          const dir = path.join(rowDirectory, name);
          mkdirSync(dir, { recursive: true });
          const file = path.join(dir, 'node');
          const options = run.root ? (STACK.find((entry) => entry.name === name)?.nodeOptions ?? []) : [];
          const profiler = profiling ? [`--cpu-prof`, `--cpu-prof-dir="${dir}"`] : [];
          writeFileSync(file, `#!/bin/sh\nexec "${process.execPath}" ${[...options, ...profiler].join(' ')} "$@"\n`);
          chmodSync(file, 0o755);
          return file;
        };
        await stack.start(wrapper, run.root);
        console.log(
          `round ${round + 1}, ${run.label}: ${subscribers} subscribers at ${settings.BENCH_SUBSCRIPTION_EVENTS_PER_SECOND} changes/s committed through ${paymentPath}…`,
        );
        const session = new Session();
        session.connect();
        let profile: unknown;
        const driver = paymentDriver(paymentPath, { gatewayUrl: stack.gatewayUrl, databaseEnv: stack.databaseEnv });
        let row: SubscriptionRow;
        try {
          row = await measureSubscriptions({
            via: OUR_GATEWAY,
            url: stack.gatewayUrl,
            gateway: { pid: stack.children.get('gateway')?.pid as number, cpu: [treeOf('gateway', stack.children.get('gateway')?.pid as number)] },
            userTokens: stack.userIds.map((userId, index) => ({ userId, token: stack.tokens.users[index] as string })),
            payments: { path: paymentPath, pay: driver.pay },
            subscribers,
            paymentsPerSecond: settings.BENCH_SUBSCRIPTION_EVENTS_PER_SECOND / 2,
            seconds: settings.BENCH_SUBSCRIPTION_SECONDS,
            others: [...SERVICES.map((name) => treeOf(name, stack.children.get(name)?.pid as number)), postgres],
            ...(profiling
              ? {
                  onMeasuring: async (measuring: boolean) => {
                    if (measuring) {
                      await session.post('Profiler.enable');
                      await session.post('Profiler.start');
                    } else profile = (await session.post('Profiler.stop')).profile;
                  },
                }
              : {}),
          });
        } catch (error) {
          // A row that could not be measured (subscribers that never came live on a saturated machine) is told, and the next one runs.
          console.log(`  not measured: ${(error as Error).message}`);
          lines.push(`## Round ${round + 1}, ${run.label}`, '', `not measured: ${(error as Error).message}`, '');
          session.disconnect();
          await driver.close();
          await stack.stop();
          continue;
        }
        session.disconnect();
        await driver.close();
        await stack.stop();
        writeFileSync(path.join(rowDirectory, 'row.json'), JSON.stringify(row));
        const cpu = Object.entries(row.cpuPerChangeMs);
        const total = cpu.reduce((sum, [, ms]) => sum + ms, 0);
        const summary =
          `${row.eventsPerSecond.toFixed(0)} changes/s, ${row.delivered} of ${row.expected} delivered (lost ${row.lost}, duplicated ${row.duplicated}, errors ${row.errors}), ` +
          `p50 ${row.p50.toFixed(0)} ms, p99 ${row.p99.toFixed(0)} ms, gateway ${row.gatewayCpuPerEventMs.toFixed(3)} CPU-ms per event delivered`;
        console.log(`  ${summary}\n  CPU-ms per change: ${cpu.map(([name, ms]) => `${name} ${ms.toFixed(2)}`).join(', ')}, all ${total.toFixed(2)}`);
        lines.push(
          `## Round ${round + 1}, ${run.label}`,
          '',
          summary,
          '',
          ...table(['process', 'CPU-ms per change'], [...cpu.map(([name, ms]) => [name, ms.toFixed(2)]), ['all', total.toFixed(2)]]),
          '',
        );
        if (!profiling) continue;
        if (profile) writeFileSync(path.join(rowDirectory, 'driver.cpuprofile'), JSON.stringify(profile));
        const files = [
          ...['gateway', 'payments'].flatMap((name) =>
            readdirSync(path.join(rowDirectory, name))
              .filter((file) => file.endsWith('.cpuprofile'))
              .map((file) => ({ name, file: path.join(rowDirectory, name, file) }))
              .sort((a, b) => statSync(b.file).size - statSync(a.file).size)
              .slice(0, 1),
          ),
          ...(profile ? [{ name: 'driver', file: path.join(rowDirectory, 'driver.cpuprofile') }] : []),
        ];
        for (const { name, file } of files) {
          const window = { startUs: row.window.startUs, endUs: row.window.endUs };
          const summary = summariseCpuProfile(file, 25, window);
          lines.push(`### ${name}: ${summary.totalMs.toFixed(0)} ms sampled in the window (\`${path.relative(REPOSITORY_ROOT, file)}\`)`, '');
          lines.push(
            ...table(['owner', 'self', 'share'], shares(summary.byOwner)),
            '',
            ...table(['function', 'self', 'share'], shares(summary.byFunction)),
            '',
          );
        }
      }
    }
    const report = path.join(directory, 'summary.md');
    writeFileSync(
      report,
      `# Where a subscriptions row's CPU goes\n\n${new Date().toISOString()} · generated by \`npm run bench:subscriptions:profile\` · shared layout, one gateway process, ${subscribers} subscribers, ${settings.BENCH_SUBSCRIPTION_EVENTS_PER_SECOND} changes/s committed through ${paymentPath} for ${settings.BENCH_SUBSCRIPTION_SECONDS} s${profiling ? ', profilers on (they cost time themselves: read the shares)' : ''}\n\n${lines.join('\n')}\n`,
    );
    console.log(`Written to ${path.relative(process.cwd(), report)}`);
  } finally {
    await stack.close();
  }
});
