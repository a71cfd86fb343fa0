import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpuSample, treeOf } from './cpu';

describe('CPU per process group', () => {
  it('counts a process that ended between the readings until its end (a closed PostgreSQL backend counted 0)', async () => {
    // A parent that, once told, starts a child that computes for a while and ends, saying what CPU it used; the parent passes that on.
    const child = `let x = 0; for (let i = 0; i < 3e8; i += 1) x += i % 7; const { user, system } = process.cpuUsage(); console.log((user + system) / 1000);`;
    const parent = spawn(
      process.execPath,
      [
        '-e',
        `process.stdin.once('data', () => require('node:child_process').spawn(process.execPath, ['-e', ${JSON.stringify(child)}], { stdio: 'inherit' }));`,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const sample = cpuSample([treeOf('parent', parent.pid as number)]);
      parent.stdin.write('go');
      const [said] = (await once(parent.stdout, 'data')) as [Buffer];
      // The child has ended once its parent has waited for it.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const childMs = Number(said.toString());
      const { parent: used = 0 } = sample();
      // The child's own time, give or take the kernel's 10 ms ticks, and the little the parent used meanwhile.
      expect(childMs).toBeGreaterThan(100);
      expect(used).toBeGreaterThanOrEqual(childMs - 20);
      expect(used).toBeLessThan(childMs + 200);
    } finally {
      parent.kill();
    }
  });
});
