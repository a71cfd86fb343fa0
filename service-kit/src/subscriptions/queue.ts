// A subscription's results as an async iterator that its reader can end at once, even while it waits for the next, with the bytes they hold counted.

/** Bytes of results that one connection's subscriptions hold: waiting to be read, or read and being sent. */
export interface HeldBytes {
  bytes: number;
}

const byConnection = new WeakMap<object, HeldBytes>();

/** The count of what the subscriptions of the connection `connection` stands for hold (made on first use). */
export function heldOn(connection: object): HeldBytes {
  let held = byConnection.get(connection);
  if (!held) byConnection.set(connection, (held = { bytes: 0 }));
  return held;
}

/**
 * What graphql-ws reads a subscription's results from. A native async generator cannot be ended while it
 * awaits (its `return()` waits for the pending step), so a subscription waiting for its next event would
 * outlive its client's `complete` or a closed connection; this ends at once and says so (`onReturn`).
 *
 * Each result's bytes (as its pusher measured them) count, here and on the connection, from when it is
 * pushed until the reader asks for the next one: graphql-ws asks only once it has sent the last, so a
 * result that waits for a backed-up connection still counts.
 */
export class ResultQueue<T> implements AsyncIterableIterator<T> {
  private readonly items: { item: T; bytes: number }[] = [];
  /** What this subscription's results hold: waiting, and the one being sent. */
  bytes = 0;
  private sending = 0;
  private waiting: ((result: IteratorResult<T>) => void) | undefined;
  private finished = false;
  private returned = false;

  constructor(
    private readonly onReturn: () => void,
    /** What the connection's subscriptions hold, this one's included. */
    readonly connection: HeldBytes = { bytes: 0 },
  ) {}

  /** Results waiting to be read. */
  get length(): number {
    return this.items.length;
  }

  /** Adds a result of `bytes` (0 where unmeasured) for the reader. */
  push(item: T, bytes = 0): void {
    if (this.finished) return;
    this.hold(bytes);
    const waiting = this.waiting;
    this.waiting = undefined;
    if (waiting) {
      this.sending = bytes;
      return waiting({ value: item, done: false });
    }
    this.items.push({ item, bytes });
  }

  /** No more results: the reader gets those waiting, then the end. */
  finish(): void {
    this.finished = true;
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<T>> {
    // The last one has been sent.
    this.hold(-this.sending);
    this.sending = 0;
    const waiting = this.items.shift();
    if (waiting !== undefined) {
      this.sending = waiting.bytes;
      return Promise.resolve({ value: waiting.item, done: false });
    }
    if (this.finished) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiting = resolve));
  }

  /** The reader is done (the client completed, the connection closed): nothing more is kept. */
  return(): Promise<IteratorResult<T>> {
    this.items.length = 0;
    this.hold(-this.bytes);
    this.sending = 0;
    this.finish();
    if (!this.returned) {
      this.returned = true;
      this.onReturn();
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private hold(bytes: number): void {
    this.bytes += bytes;
    this.connection.bytes += bytes;
  }
}
