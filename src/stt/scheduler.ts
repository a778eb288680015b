// Decode slots for every session on the shared model: a stream awaits a lease, then builds and
// runs its own decode on it. The scheduler owns only the slots; the stream owns its job.
// Fair: each stream waits for at most one lease (its loop asks for the next one only after the
// last decode settled), served first-come first-served with finals ahead of partials, so no
// stream can starve another. Thread budget: the threads of running decodes never exceed the
// budget (oversubscribing 2 cores makes two decodes 15x slower, ../design notes).
import type { TranscribeRequest, TranscribeResult, Transcriber } from "./types.js";

export interface LeaseRequest {
  /** Read when a slot frees: a final (flush/end/utterance end) waiting is served before partials. */
  wantsFinal(): boolean;
  /** Aborting withdraws a waiting request: acquire() rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface DecodeLease {
  /** Inference threads this slot holds (the engine's share of the budget). */
  readonly threads: number;
  /** How long the request waited for this slot (ms). */
  readonly waitedMs: number;
  /**
   * Runs one decode on this slot; the slot is freed when the engine settles, not earlier: an
   * aborted embedded decode keeps its thread until whisper.cpp returns.
   */
  decode(req: Omit<TranscribeRequest, "threads">): Promise<TranscribeResult>;
  /** Frees the slot without decoding (nothing to decode after all). Idempotent. */
  release(): void;
}

export class SchedulerClosedError extends Error {
  constructor() {
    super("decode scheduler is closed");
    this.name = "SchedulerClosedError";
  }
}

interface Waiting {
  req: LeaseRequest;
  since: number;
  grant: (lease: DecodeLease) => void;
  reject: (err: unknown) => void;
}

export class DecodeScheduler {
  private readonly waiting: Waiting[] = [];
  private runningThreads = 0;
  private runningJobs = 0;
  decodes = 0;
  decodeMsLast = 0;
  private closed = false;

  constructor(
    readonly transcriber: Transcriber,
    /** Total inference threads (embedded) or concurrent requests (remote). */
    readonly budget: number,
    /**
     * Give a lone decode the whole budget. Off by default: on a shared 2-core host a 2-thread
     * decode collapses whenever another process takes a core (ggml threads spin on barriers):
     * measured 65 ms .. 2399 ms for 2 s of audio, against a steady 104-112 ms at 1 thread.
     */
    private readonly wholeBudgetWhenAlone = false,
  ) {}

  get queued(): number {
    return this.waiting.length;
  }
  get running(): number {
    return this.runningJobs;
  }

  /**
   * A slot now, if one is free and nobody is waiting (fair: never jumps the queue); else null.
   * The stream builds its job in the same tick, so a flush decodes exactly the audio before it.
   */
  tryAcquire(): DecodeLease | null {
    if (this.closed || this.waiting.length > 0 || this.runningThreads >= this.budget) return null;
    return this.lease(this.threadsFor(), 0);
  }

  /** Resolves with a slot when one is free and this request's turn has come. */
  acquire(req: LeaseRequest): Promise<DecodeLease> {
    if (this.closed) return Promise.reject(new SchedulerClosedError());
    if (req.signal?.aborted) return Promise.reject(req.signal.reason);
    return new Promise<DecodeLease>((grant, reject) => {
      const entry: Waiting = { req, since: performance.now(), grant, reject };
      const onAbort = () => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(req.signal!.reason);
      };
      req.signal?.addEventListener("abort", onAbort, { once: true });
      entry.grant = (lease) => {
        req.signal?.removeEventListener("abort", onAbort);
        grant(lease);
      };
      this.waiting.push(entry);
      this.pump();
    });
  }

  close(): void {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.reject(new SchedulerClosedError());
  }

  private pump(): void {
    while (this.waiting.length > 0 && this.runningThreads < this.budget) {
      const fi = this.waiting.findIndex((w) => w.req.wantsFinal());
      const next = this.waiting.splice(fi >= 0 ? fi : 0, 1)[0]!;
      next.grant(this.lease(this.threadsFor(), performance.now() - next.since));
    }
  }

  // One thread per decode, as many decodes as the budget (best throughput, robust to contention).
  private threadsFor(): number {
    const alone = this.wholeBudgetWhenAlone && this.transcriber.capabilities.local && this.runningJobs === 0 && this.waiting.length === 0;
    return alone ? this.budget : 1;
  }

  private lease(threads: number, waitedMs: number): DecodeLease {
    this.runningThreads += threads;
    this.runningJobs++;
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      this.runningThreads -= threads;
      this.runningJobs--;
      this.pump();
    };
    return {
      threads,
      waitedMs,
      release,
      decode: async (req) => {
        if (!held) throw new Error("decode lease already used");
        const started = performance.now();
        try {
          const r = await this.transcriber.transcribe({ ...req, threads });
          this.decodes++;
          this.decodeMsLast = r.decodeMs || performance.now() - started;
          return r;
        } finally {
          release();
        }
      },
    };
  }
}
