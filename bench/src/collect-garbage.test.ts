import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { freePort } from '@fedstack/runtime';
import { collectGarbage } from './collect-garbage';

/**
 * A process holding garbage V8 has no reason to collect yet: an object nothing refers to any more, which
 * says so (FinalizationRegistry) once it is collected.
 */
const HOLDER = `
const registry = new FinalizationRegistry(() => console.log('collected'));
(() => registry.register(new Array(1000).fill({}), 'garbage'))();
setInterval(() => {}, 1000);
console.log('ready');
`;

describe('collectGarbage', () => {
  it('collects the garbage of a process whose inspector listens, and skips a port where none does', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [`--inspect=127.0.0.1:${port}`, '-e', HOLDER], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      let printed = '';
      const said = (text: string) =>
        new Promise<void>((resolve, reject) => {
          setTimeout(() => reject(new Error(`the process did not say "${text}" within 3 s`)), 3000).unref();
          const check = () => printed.includes(text) && resolve();
          child.stdout.on('data', (chunk: Buffer) => {
            printed += chunk.toString();
            check();
          });
          check();
        });
      await said('ready');
      expect(printed).not.toContain('collected');
      await collectGarbage({ host: '127.0.0.1', ports: [await freePort(), port] });
      await said('collected');
    } finally {
      child.kill();
      await once(child, 'exit');
    }
  });
});
