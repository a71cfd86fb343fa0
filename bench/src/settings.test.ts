import { readSettings } from '@fedstack/runtime';
import { BENCH_SETTINGS } from './settings';

describe("the benchmark's settings", () => {
  const read = (env: NodeJS.ProcessEnv) => () => readSettings(env, BENCH_SETTINGS);

  it('refuse more connections than keep two of the same request from being in flight together (mix.test.ts)', () => {
    expect(read({ BENCH_CONNECTIONS: '64' })().BENCH_CONNECTIONS).toBe(64);
    expect(read({ BENCH_CONNECTIONS: '65' })).toThrow('BENCH_CONNECTIONS must be a whole number from 1 to 64');
  });

  it('refuse a layout named twice', () => {
    expect(read({ BENCH_LAYOUTS: 'split,shared' })().BENCH_LAYOUTS).toEqual(['split', 'shared']);
    expect(read({ BENCH_LAYOUTS: 'shared,shared' })).toThrow('BENCH_LAYOUTS must be a comma-separated list of shared, split, each once (got "shared,shared")');
  });
});
