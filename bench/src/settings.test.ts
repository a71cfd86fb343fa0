import { readSettings } from '@fedstack/runtime';
import { BENCH_SETTINGS } from './settings';

describe("the benchmark's settings", () => {
  const read = (env: NodeJS.ProcessEnv) => () => readSettings(env, BENCH_SETTINGS);

  it('refuse more connections than the mix has different requests to keep in flight', () => {
    expect(read({ BENCH_CONNECTIONS: '81' })().BENCH_CONNECTIONS).toBe(81);
    expect(read({ BENCH_CONNECTIONS: '82' })).toThrow('BENCH_CONNECTIONS must be a whole number from 1 to 81');
  });

  it('refuse a layout named twice', () => {
    expect(read({ BENCH_LAYOUTS: 'split,shared' })().BENCH_LAYOUTS).toEqual(['split', 'shared']);
    expect(read({ BENCH_LAYOUTS: 'shared,shared' })).toThrow('BENCH_LAYOUTS must be a comma-separated list of shared, split, each once (got "shared,shared")');
  });
});
