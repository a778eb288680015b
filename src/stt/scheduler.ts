// One queue of decode jobs for every session on the shared model. Fair: each stream has at most
// one job waiting, served first-come first-served (finals ahead of partials), so no stream can
// starve another. Thread budget: the threads of running decodes never exceed the budget
// (oversubscribing 2 cores makes two decodes 15x slower, ../design notes).
import type { TranscribeRequest, TranscribeResult, Transcriber } from "./types.js";

export interface DecodeJob {
  request: TranscribeRequest;
  done(result: TranscribeResult): void;
  failed(err: unknown): void;
}

export interface JobSource {
  /** Called when the job starts, so the window includes all audio received by then. */
  takeJob(): DecodeJob | null;
  /** A final (flush/end/utterance end) waits: served before partials. */
  readonly wantsFinal: boolean;
}

export class DecodeScheduler {
  private readonly queue: JobSource[] = [];
  private runningThreads = 0;
  private runningJobs = 0;
  decodes = 0;
  decodeMsLast = 0;
  private closed = false;

  constructor(
    private readonly transcriber: Transcriber,
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
    return this.queue.length;
  }
  get running(): number {
    return this.runningJobs;
  }

  request(src: JobSource): void {
    if (this.closed || this.queue.includes(src)) return;
    this.queue.push(src);
    this.pump();
  }

  cancel(src: JobSource): void {
    const i = this.queue.indexOf(src);
    if (i >= 0) this.queue.splice(i, 1);
  }

  close(): void {
    this.closed = true;
    this.queue.length = 0;
  }

  private pump(): void {
    while (this.queue.length > 0 && this.runningThreads < this.budget) {
      const fi = this.queue.findIndex((s) => s.wantsFinal);
      const src = this.queue.splice(fi >= 0 ? fi : 0, 1)[0]!;
      const job = src.takeJob();
      if (!job) continue;
      // One thread per decode, as many decodes as the budget (best throughput, robust to contention).
      const threads =
        this.wholeBudgetWhenAlone && this.transcriber.capabilities.local && this.runningJobs === 0 && this.queue.length === 0 ? this.budget : 1;
      this.runningThreads += threads;
      this.runningJobs++;
      const started = performance.now();
      this.transcriber
        .transcribe({ ...job.request, threads })
        .then(
          (r) => {
            this.decodes++;
            this.decodeMsLast = r.decodeMs || performance.now() - started;
            job.done(r);
          },
          (e) => job.failed(e),
        )
        .catch((e) => job.failed(e)) // a throwing done() must not become an unhandled rejection
        .finally(() => {
          this.runningThreads -= threads;
          this.runningJobs--;
          this.pump();
        });
    }
  }
}
