import { GraphQLError, type ExecutionResult } from 'graphql';
import { AppError, ErrorCode, pollUntil } from '@fedstack/runtime';
import { liveEvents } from './feed';
import type { LiveHub } from './hub';
import { LiveSubscription } from './live';
import type { HeldBytes } from './queue';

/** A hub that hands a subscription nothing by itself: the test sends its events. */
const hub = { add: () => ({ follow: () => [], leave: () => undefined }) } as unknown as LiveHub;
const viewer = { userId: 'u1', role: 'USER' as const, sessionId: 's1', tokenId: 't1', expiresAt: Date.now() + 3_600_000 };

/** A started subscription whose every event's result is `bytes` long (as JSON, about), on `connection`; and how it ended. */
function subscription(bytes: number, connection: HeldBytes) {
  const ended: unknown[] = [];
  const live = new LiveSubscription({
    hub,
    viewer,
    expiresAt: viewer.expiresAt,
    recheck: async () => ({ viewer, error: null }),
    execute: async (): Promise<ExecutionResult> => ({ data: { field: 'x'.repeat(bytes) } }),
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
});
