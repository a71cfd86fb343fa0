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

  it('counts nothing of what a grandchild used before the first reading when it and its parent end between the readings (it counted all of it)', async () => {
    // The group's root P starts M, which starts C; C computes for a while and says so, then waits; told to, C and then M end.
    const grandchild = `let x = 0; for (let i = 0; i < 3e8; i += 1) x += i % 7; console.log('computed'); process.stdin.once('data', () => process.exit(0));`;
    const child = `const c = require('node:child_process').spawn(process.execPath, ['-e', ${JSON.stringify(grandchild)}], { stdio: ['pipe', 'inherit', 'inherit'] });
      process.stdin.once('data', () => { c.stdin.write('x'); c.on('exit', () => process.exit(0)); });`;
    const root = `const m = require('node:child_process').spawn(process.execPath, ['-e', ${JSON.stringify(child)}], { stdio: ['pipe', 'inherit', 'inherit'] });
      process.stdin.on('data', () => m.stdin.write('x')); m.on('exit', () => console.log('ended'));`;
    const parent = spawn(process.execPath, ['-e', root], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      await once(parent.stdout, 'data');
      const sample = cpuSample([treeOf('tree', parent.pid as number)]);
      parent.stdin.write('go');
      await once(parent.stdout, 'data');
      const { tree: used = 0 } = sample();
      // The two exits, and the root's wait: tens of milliseconds, not the grandchild's seconds.
      expect(used).toBeGreaterThanOrEqual(0);
      expect(used).toBeLessThan(300);
    } finally {
      parent.kill();
    }
  });
});
