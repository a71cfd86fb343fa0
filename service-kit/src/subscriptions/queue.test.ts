import { ResultQueue, heldOn } from './queue';

describe("a subscription's results, with the bytes they hold counted on their connection", () => {
  it('counts a result from when it is pushed until the reader asks for the next (it has been sent), and all of them once the reader is done', async () => {
    const connection = heldOn({});
    const [first, second] = [new ResultQueue<string>(() => undefined, connection), new ResultQueue<string>(() => undefined, connection)];
    first.push('a', 100);
    first.push('b', 50);
    second.push('c', 10);
    expect([first.bytes, second.bytes, connection.bytes]).toEqual([150, 10, 160]);
    // Read, and being sent: still held.
    expect(await first.next()).toEqual({ value: 'a', done: false });
    expect([first.bytes, connection.bytes]).toEqual([150, 160]);
    // Asked for the next: 'a' has gone out.
    expect(await first.next()).toEqual({ value: 'b', done: false });
    expect([first.bytes, connection.bytes]).toEqual([50, 60]);
    // Handed straight to a reader waiting for it: held until the reader asks again.
    const waiting = first.next();
    expect([first.bytes, connection.bytes]).toEqual([0, 10]);
    first.push('d', 30);
    expect(await waiting).toEqual({ value: 'd', done: false });
    expect(connection.bytes).toBe(40);
    await first.return();
    await second.return();
    expect([first.bytes, second.bytes, connection.bytes]).toEqual([0, 0, 0]);
  });

  it('keeps one count per connection', () => {
    const [one, other] = [{}, {}];
    heldOn(one).bytes += 5;
    expect([heldOn(one).bytes, heldOn(other).bytes]).toEqual([5, 0]);
  });
});
