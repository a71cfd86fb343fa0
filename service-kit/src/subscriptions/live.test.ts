import { GraphQLError, type ExecutionResult } from 'graphql';
import { AppError, ErrorCode, pollUntil } from '@fedstack/runtime';
import { liveEvents } from './feed';
import type { LiveHub } from './hub';
import { LiveSubscription } from './live';
import type { HeldBytes } from './queue';

/** A hub that hands a subscription nothing by itself: the test sends its events. */
const hub = { add: () => ({ follow: () => [], leave: () => undefined }) } as unknown as LiveHub;
const viewer = { userId: 'u1', role: 'USER' as const, sessionId: 's1', tokenId: 't1', expiresAt: Date.now() + 3_600_000 };

/** A result `bytes` long (as JSON, about). */
const resultOf = (bytes: number): ExecutionResult => ({ data: { field: 'x'.repeat(bytes) } });

/**
 * A started subscription on `connection` whose every event's result is `bytes` long, or what `execute`
 * answers; and how it ended.
 */
function subscription(bytes: number, connection: HeldBytes, execute = async (): Promise<ExecutionResult> => resultOf(bytes)) {
  const ended: unknown[] = [];
  const live = new LiveSubscription({
    hub,
    viewer,
    expiresAt: viewer.expiresAt,
    recheck: async () => ({ viewer, error: null }),
    execute,
    locate: (error) => (error instanceof GraphQLError ? error : new GraphQLError((error as Error).message, { originalError: error as Error })),
    maxBacklog: 1000,
    maxEventBytes: 1000,
    connection,
    maxConnectionBytes: 1500,
    missed: (why) => new AppError(ErrorCode.SUBGRAPH_UNAVAILABLE, `missed: ${why}`),
    onEnd: (error) => ended.push(error),
  });
  live.start(liveEvents('channel'));
  let events = 0;
  const send = () => live.event('channel', { id: `e${(events += 1)}`, userId: 'u1', committedAt: new Date().toISOString() });
  return { live, ended, send };
}

const codeOf = (error: unknown) => (error as AppError | undefined)?.extensions.code;

describe("a live subscription's bounds on the results it holds", () => {
  it('ends with OPERATION_TOO_COMPLEX on an event whose result is over maxEventBytes', async () => {
    const large = subscription(2000, { bytes: 0 });
    large.send();
    await pollUntil('ended', async () => (large.ended.length ? true : undefined), { timeoutMs: 2000 });
    expect(codeOf(large.ended[0])).toBe(ErrorCode.OPERATION_TOO_COMPLEX);
  });

  it('ends, events missed, one whose unread results pass maxEventBytes', async () => {
    const behind = subscription(600, { bytes: 0 });
    behind.send();
    behind.send();
    await pollUntil('two held', async () => (behind.live.results.length === 2 ? true : undefined), { timeoutMs: 2000 });
    behind.send();
    expect(codeOf(behind.ended[0])).toBe(ErrorCode.SUBGRAPH_UNAVAILABLE);
  });

  it("ends those holding results while the connection's subscriptions hold more than maxConnectionBytes, not one holding none", async () => {
    const connection = { bytes: 0 };
    const [first, second, idle] = [subscription(800, connection), subscription(800, connection), subscription(800, connection)];
    first.send();
    second.send();
    await pollUntil('both held', async () => (connection.bytes > 1500 ? true : undefined), { timeoutMs: 2000 });
    first.send();
    idle.send();
    expect(codeOf(first.ended[0])).toBe(ErrorCode.SUBGRAPH_UNAVAILABLE);
    await pollUntil('the idle one delivered', async () => (idle.live.results.length === 1 ? true : undefined), { timeoutMs: 2000 });
    expect(idle.ended).toEqual([]);
  });

  // Each event's result was read while nothing was held yet, and every one of them was then held.
  it.each([
    ['its own bound', { bytes: 0 }, 2],
    ["its connection's bound", { bytes: 1600 }, 1],
  ])('holds no more than %s after a burst of events that came before any result', async (_bound, connection, events) => {
    let open = () => undefined as void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const burst = subscription(900, connection, async () => {
      await gate;
      return resultOf(900);
    });
    for (let event = 0; event < 200; event += 1) burst.send();
    open();
    await pollUntil('ended', async () => (burst.ended.length ? true : undefined), { timeoutMs: 2000 });
    expect(codeOf(burst.ended[0])).toBe(ErrorCode.SUBGRAPH_UNAVAILABLE);
    expect(burst.live.results.bytes).toBe(events * Buffer.byteLength(JSON.stringify(resultOf(900))));
  });
});

describe('a live subscription whose event could not be completed', () => {
  it("passes on the event's errors and ends, events missed (it went on after the lost event)", async () => {
    let calls = 0;
    const lost = subscription(10, { bytes: 0 }, async () => {
      calls += 1;
      const unreachable = new GraphQLError('The payments service cannot reach its database at the moment', { extensions: { code: 'SUBGRAPH_UNAVAILABLE' } });
      return calls === 1 ? { data: null, errors: [unreachable] } : resultOf(10);
    });
    lost.send();
    const first = (await lost.live.results.next()).value as ExecutionResult;
    expect(first.data).toBeNull();
    expect(first.errors?.map((error) => error.message)).toEqual([
      'The payments service cannot reach its database at the moment',
      'missed: could not complete an event',
    ]);
    lost.send();
    expect((await lost.live.results.next()).done).toBe(true);
    expect(codeOf(lost.ended[0])).toBe(ErrorCode.SUBGRAPH_UNAVAILABLE);
  });
});
