import type { RowEvent } from './feed';
import { singleFlight } from './single-flight';

/** An event about the row `id`, as the hub hands one to every subscription it reaches. */
const eventAbout = (id: string): RowEvent => ({ id, userId: null, committedAt: new Date().toISOString() });

describe('singleFlight', () => {
  it('shares one load among callers while it is under way, and loads again once it has settled', async () => {
    let loads = 0;
    let release: (value: string) => void = () => undefined;
    const read = singleFlight<string>();
    const load = () => {
      loads += 1;
      return new Promise<string>((resolve) => (release = resolve));
    };
    const event = eventAbout('a');
    const together = [read(event, load), read(event, load), read(event, load)];
    release('first');
    expect(await Promise.all(together)).toEqual(['first', 'first', 'first']);
    expect(loads).toBe(1);
    const later = read(event, load);
    release('second');
    expect(await later).toBe('second');
    expect(loads).toBe(2);
  });

  it('keeps events apart, and lets a failure reach every caller without keeping it', async () => {
    let loads = 0;
    const read = singleFlight<string>();
    const load = (key: string) => async () => {
      loads += 1;
      if (key === 'bad') throw new Error('no such row');
      return key.toUpperCase();
    };
    expect(await Promise.all([read(eventAbout('x'), load('x')), read(eventAbout('y'), load('y'))])).toEqual(['X', 'Y']);
    const bad = eventAbout('bad');
    await expect(Promise.all([read(bad, load('bad')), read(bad, load('bad'))])).rejects.toThrow('no such row');
    await expect(read(bad, load('bad'))).rejects.toThrow('no such row');
    expect(loads).toBe(4);
  });
});
