// A subscription's results as an async iterator that its reader can end at once, even while it waits for the next.

/**
 * What graphql-ws reads a subscription's results from. A native async generator cannot be ended while it
 * awaits (its `return()` waits for the pending step), so a subscription waiting for its next event would
 * outlive its client's `complete` or a closed connection; this ends at once and says so (`onReturn`).
 */
export class ResultQueue<T> implements AsyncIterableIterator<T> {
  private readonly items: { item: T; bytes: number }[] = [];
  /** The size of the results waiting (as their pusher measured them). */
  bytes = 0;
  private waiting: ((result: IteratorResult<T>) => void) | undefined;
  private finished = false;
  private returned = false;

  constructor(private readonly onReturn: () => void) {}

  /** Results waiting to be read. */
  get length(): number {
    return this.items.length;
  }

  /** Adds a result of `bytes` (0 where unmeasured) for the reader. */
  push(item: T, bytes = 0): void {
    if (this.finished) return;
    const waiting = this.waiting;
    this.waiting = undefined;
    if (waiting) return waiting({ value: item, done: false });
    this.items.push({ item, bytes });
    this.bytes += bytes;
  }

  /** No more results: the reader gets those waiting, then the end. */
  finish(): void {
    this.finished = true;
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<T>> {
    const waiting = this.items.shift();
    if (waiting !== undefined) {
      this.bytes -= waiting.bytes;
      return Promise.resolve({ value: waiting.item, done: false });
    }
    if (this.finished) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiting = resolve));
  }

  /** The reader is done (the client completed, the connection closed): nothing more is kept. */
  return(): Promise<IteratorResult<T>> {
    this.items.length = 0;
    this.bytes = 0;
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
}
