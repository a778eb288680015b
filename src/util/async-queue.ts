// The one bounded async queue: a producer that cannot wait (socket messages, decoder callbacks,
// token streams) pushes, one consumer awaits next(). close() lets the consumer drain what is
// buffered and then see the end; fail(err) drains too and then rejects with err; cancel() drops
// what is buffered and ends at once. Full: "fail" turns the overflow into the consumer's error
// (memory stays bounded and the loss is loud), "drop-oldest" keeps the newest items and counts
// the dropped ones (for consumers that may never read, like an SDK user who only awaits end()).

export class QueueOverflowError extends Error {
  constructor(readonly capacity: number) {
    super(`queue full: ${capacity} items buffered and none consumed`);
    this.name = "QueueOverflowError";
  }
}

export interface AsyncQueueOptions {
  /** Most items buffered at once (>= 1). */
  capacity: number;
  /** What a push into a full queue does (default "fail"). */
  overflow?: "fail" | "drop-oldest";
}

type Waiter<T> = { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void };

export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private readonly waiters: Waiter<T>[] = [];
  private state: "open" | "closed" | "failed" = "open";
  private failure: unknown = null;
  private droppedCount = 0;
  readonly capacity: number;
  private readonly overflow: "fail" | "drop-oldest";

  constructor(opts: AsyncQueueOptions) {
    if (!Number.isInteger(opts.capacity) || opts.capacity < 1) throw new RangeError(`AsyncQueue capacity must be a positive integer, got ${opts.capacity}`);
    this.capacity = opts.capacity;
    this.overflow = opts.overflow ?? "fail";
  }

  /** Items buffered and not yet taken. */
  get size(): number {
    return this.items.length;
  }
  /** Items dropped by "drop-oldest" since the queue was made. */
  get dropped(): number {
    return this.droppedCount;
  }
  /** No more items will be accepted (closed, failed or cancelled). */
  get ended(): boolean {
    return this.state !== "open";
  }

  /** Adds an item; false when it was not accepted (queue ended, or full under "fail"). */
  push(item: T): boolean {
    if (this.state !== "open") return false;
    const w = this.waiters.shift();
    if (w) {
      w.resolve({ value: item, done: false });
      return true;
    }
    if (this.items.length >= this.capacity) {
      if (this.overflow === "fail") {
        this.fail(new QueueOverflowError(this.capacity));
        return false;
      }
      this.items.shift();
      this.droppedCount++;
    }
    this.items.push(item);
    return true;
  }

  /** Takes the next item, waiting for one; done once closed and drained; rejects once failed and drained. */
  next(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) return Promise.resolve({ value: this.items.shift()!, done: false });
    if (this.state === "failed") return Promise.reject(this.failure);
    if (this.state === "closed") return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** No more items: the consumer drains the buffer, then sees the end. */
  close(): void {
    if (this.state !== "open") return;
    this.state = "closed";
    for (const w of this.waiters.splice(0)) w.resolve({ value: undefined, done: true });
  }

  /** Ends with an error: the consumer drains the buffer, then every next() rejects with `err`. */
  fail(err: unknown): void {
    if (this.state !== "open") return;
    this.state = "failed";
    this.failure = err;
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  /** Drops everything buffered and ends now (an abandoned consumer). */
  cancel(): void {
    this.items.length = 0;
    if (this.state === "failed") this.state = "closed";
    this.close();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return { next: () => this.next() };
  }
}
