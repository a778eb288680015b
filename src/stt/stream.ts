// One session's speech stream; its job: WHEN to decode, and the loop that does it. VAD-gated,
// windowed streaming over the shared decode scheduler: audio in (16 kHz mono), SpeechEvents out,
// in order. The loop awaits a lease (scheduler.ts), builds its decode from the window (window.ts),
// and folds the result in: what a decode commits is decided by policy.ts (partialCommits, guards)
// and recorded by transcript.ts; this file applies it and emits the events.
//
// Window: audio since the last commit point, at most maxWindowMs. Every updateMs of new audio
// with speech in it, the window is decoded; words `agreement` consecutive decodes agree on are
// committed (final, reason "agreement") and the window start moves to the end of the last
// committed word. So each decode costs O(window), never O(utterance). A pause of utteranceEndMs,
// flush() and end() decode what is left and commit all of it.
import { EnergyVad, VAD_FRAME_SAMPLES } from "../audio/vad.js";
import { SAMPLE_RATE } from "../domain/audio.js";
import { joinWords } from "../domain/words.js";
import { AsyncQueue } from "../util/async-queue.js";
import type { Logger } from "../util/log.js";
import { TranscriptionError } from "./errors.js";
import { noSttMetrics, type SttMetrics } from "./metrics.js";
import { partialCommits, type StreamWord } from "./policy.js";
import type { DecodeLease, DecodeScheduler } from "./scheduler.js";
import type { StreamPolicy } from "./stream-policy.js";
import { Transcript, round3, sec, toWire } from "./transcript.js";
import type { SpeechEvent, SpeechStream, TranscribeRequest, TranscribeResult } from "./types.js";
import { AudioWindow } from "./window.js";

export { DEFAULT_POLICY, type StreamPolicy } from "./stream-policy.js";

type FinalReason = "utterance_end" | "flush" | "end";

/** One decode, as the stream built it when its lease arrived. */
interface DecodeJob {
  request: Omit<TranscribeRequest, "threads">;
  /** Stream samples the window covers: [offset, end). */
  offset: number;
  end: number;
  reason: FinalReason | null;
  /** performance.now() when the job was built (its lease arrived). */
  startedAt: number;
}

/** One decode as it settled, after the stream folded it in (benchmarks time results with it). */
export interface SettledDecode {
  startedAt: number;
  /** Stream time (s) of the window's end. */
  endSec: number;
  /** The stream's lag right after the result: the lag_ms its events carry. */
  lagMs: number;
  ok: boolean;
}

export interface StreamCounters {
  skippedPartials: number;
  loopsCut: number;
  droppedSegments: number;
}

const samples = (ms: number) => (ms * SAMPLE_RATE) / 1000;

export class SttStream implements SpeechStream {
  readonly sessionId: string;
  private readonly language: string;
  private readonly policy: StreamPolicy;
  private readonly scheduler: DecodeScheduler;
  private readonly log: Logger | undefined;
  private readonly metrics: SttMetrics;
  private readonly onFinish: (s: SttStream) => void;
  private readonly vad: EnergyVad;
  private readonly window = new AudioWindow();
  private readonly transcript: Transcript;
  private readonly events: AsyncQueue<SpeechEvent>;
  /** Aborted on close: withdraws a waiting lease request and tells the engine to stop. */
  private readonly abort = new AbortController();

  /** Audio up to here has been decoded or set aside as silence. */
  private processed = 0;
  private lastDecodeEnd = 0;
  private speechInWindow = false;
  private inUtterance = false;
  private lastSpeechEnd = 0;
  private utteranceAt = 0;
  /** A decode has started since the last silence or utterance end (see firstUpdateMs). */
  private decodedSinceSilence = false;

  /** The last hypotheses past the committed text, oldest first (LocalAgreement). */
  private prevHyps: StreamWord[][] = [];
  private lastPartial = "";
  private consecutiveFailures = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private skippedPartials = 0;

  /** The loop holds or awaits a lease (one at a time: the scheduler's fairness rests on it). */
  private active = false;
  private finalWanted: FinalReason | null = null;
  private ending = false;
  private done = false;
  /** Called after each decode has been handled (benchmarks; nothing in the server sets it). */
  onDecodeSettled: ((d: SettledDecode) => void) | null = null;

  constructor(opts: {
    sessionId: string;
    language: string;
    policy: StreamPolicy;
    scheduler: DecodeScheduler;
    logger?: Logger;
    metrics?: SttMetrics;
    onFinish?: (s: SttStream) => void;
  }) {
    this.sessionId = opts.sessionId;
    this.language = opts.language;
    this.policy = opts.policy;
    this.scheduler = opts.scheduler;
    this.log = opts.logger;
    this.metrics = opts.metrics ?? noSttMetrics;
    this.onFinish = opts.onFinish ?? (() => {});
    this.vad = new EnergyVad(opts.policy.vad);
    this.events = new AsyncQueue({ capacity: opts.policy.maxPendingEvents });
    const { guards, promptTailChars, verbatimPrompt } = opts.policy;
    this.transcript = new Transcript({ sessionId: opts.sessionId, language: opts.language, guards, promptTailChars, verbatimPrompt }, this.metrics, opts.logger);
  }

  get lagMs(): number {
    return Math.round(sec(this.window.total - this.processed) * 1000);
  }
  get audioMs(): number {
    return Math.round(sec(this.window.total) * 1000);
  }
  /** True while a decode is waiting for its slot or running (tests and benchmarks wait on it). */
  get busy(): boolean {
    return this.active;
  }
  get counters(): StreamCounters {
    return { skippedPartials: this.skippedPartials, loopsCut: this.transcript.loopsCut, droppedSegments: this.transcript.droppedSegments };
  }

  pushAudio(chunk: Float32Array): void {
    if (this.done || this.ending || chunk.length === 0) return;
    this.window.append(chunk);
    for (const f of this.vad.push(chunk)) this.onVadFrame(f.start, f.speech);
    if (!this.speechInWindow && !this.finalWanted && !this.active) {
      // Silence: nothing to decode. Keep a short pre-roll so speech onset keeps its first phone.
      this.window.dropBefore(this.window.total - samples(this.policy.preRollMs));
      this.processed = this.window.total;
      this.lastDecodeEnd = this.window.total;
      this.decodedSinceSilence = false;
      return;
    }
    if (this.updateDue()) this.schedule();
  }

  flush(): void {
    if (this.done || this.ending) return;
    this.requestFinal("flush");
  }

  end(): void {
    if (this.done || this.ending) return;
    this.ending = true;
    this.requestFinal("end");
  }

  close(): void {
    if (this.done) return;
    this.events.cancel(); // abandoned: nothing more is delivered
    this.finish();
  }

  [Symbol.asyncIterator](): AsyncIterator<SpeechEvent> {
    return {
      next: () => this.events.next(),
      return: async (): Promise<IteratorResult<SpeechEvent>> => {
        this.close();
        return { value: undefined, done: true };
      },
    };
  }

  // ---- when to decode -----------------------------------------------------------------------

  private onVadFrame(start: number, speech: boolean): void {
    const frameEnd = start + VAD_FRAME_SAMPLES;
    if (speech) {
      if (!this.inUtterance) {
        this.inUtterance = true;
        this.emit({ type: "speech_started", at: round3(sec(Math.max(0, start - 2 * VAD_FRAME_SAMPLES))), lagMs: this.lagMs });
      }
      this.speechInWindow = true;
      this.lastSpeechEnd = frameEnd;
    } else if (this.inUtterance && frameEnd - this.lastSpeechEnd >= samples(this.policy.utteranceEndMs)) {
      this.inUtterance = false;
      this.utteranceAt = sec(this.lastSpeechEnd);
      this.requestFinal("utterance_end");
    }
  }

  /** Enough new speech for the next partial: sooner for the first one after silence. */
  private updateDue(): boolean {
    const upd = samples(this.policy.updateMs);
    const next = this.decodedSinceSilence ? upd : Math.min(upd, samples(this.policy.firstUpdateMs));
    return this.speechInWindow && this.window.total - this.lastDecodeEnd >= next;
  }

  private requestFinal(reason: FinalReason): void {
    // end outranks flush outranks utterance_end; all of them commit everything.
    const keep = this.finalWanted === "end" || (this.finalWanted === "flush" && reason === "utterance_end");
    if (!keep) this.finalWanted = reason;
    this.schedule();
  }

  private afterDecode(): void {
    if (!this.done && (this.finalWanted || this.updateDue())) this.schedule();
  }

  // ---- the loop: lease, job, decode, result -------------------------------------------------

  /** Starts one turn of the loop unless one is under way (it re-checks when its decode settles). */
  private schedule(): void {
    if (this.done || this.active) return;
    this.active = true;
    this.turn().catch((err: unknown) => this.crash(err));
  }

  private async turn(): Promise<void> {
    const lease =
      this.scheduler.tryAcquire() ?? (await this.scheduler.acquire({ wantsFinal: () => this.finalWanted !== null, signal: this.abort.signal }).catch(() => null));
    const job = lease && !this.done ? this.takeJob() : null;
    if (!lease || !job) {
      lease?.release();
      this.active = false;
      return;
    }
    const outcome = await this.decode(lease, job);
    this.active = false;
    if (this.done) return;
    if ("result" in outcome) this.onDecoded(outcome.result, job);
    else this.onFailed(outcome.error, job);
    this.onDecodeSettled?.({ startedAt: job.startedAt, endSec: sec(job.end), lagMs: this.lagMs, ok: "result" in outcome });
  }

  private async decode(lease: DecodeLease, job: DecodeJob): Promise<{ result: TranscribeResult } | { error: unknown }> {
    try {
      const result = await lease.decode({ ...job.request, signal: this.abort.signal });
      this.metrics.emit({ type: "stt.decode", decodeMs: result.decodeMs, audioSeconds: job.request.audio.length / SAMPLE_RATE, queueWaitMs: lease.waitedMs, final: job.reason !== null });
      return { result };
    } catch (error) {
      return { error };
    }
  }

  /** Builds the decode when its slot arrives, so the window includes all audio received by then. */
  private takeJob(): DecodeJob | null {
    const reason = this.finalWanted;
    const end = Math.min(this.window.total, this.window.start + samples(this.policy.maxWindowMs));
    if (!this.speechInWindow || end <= this.window.start) {
      // Nothing but silence pending: a final has nothing to commit.
      if (reason) this.completeFinal(reason);
      return null;
    }
    if (!reason) this.countSkipped(end);
    this.finalWanted = null;
    this.decodedSinceSilence = true;
    const offset = this.window.start;
    const audio = this.window.head(end - offset);
    return { request: { audio, language: this.language, prompt: this.transcript.promptTail(), offsetSec: sec(offset) }, offset, end, reason, startedAt: performance.now() };
  }

  /** Degradation under load: updates that came due while waiting are merged into this one. */
  private countSkipped(end: number): void {
    const behind = Math.floor((end - this.lastDecodeEnd) / samples(this.policy.updateMs)) - 1;
    if (behind <= 0) return;
    this.skippedPartials += behind;
    this.metrics.emit({ type: "stt.partials_skipped", count: behind });
  }

  private onFailed(e: unknown, job: DecodeJob): void {
    this.log?.warn({ err: e, session: this.sessionId }, "decode failed");
    this.consecutiveFailures++;
    // Retrying cannot help a non-retryable failure (a closed engine, a server that refuses the
    // request); and a session whose every decode fails is streaming into the void. Either way the
    // client is told for good, so it can reconnect (perhaps to a healthy gateway) instead.
    const retryable = !(e instanceof TranscriptionError) || e.retryable;
    this.metrics.emit({ type: "stt.decode_failed", retryable });
    const limit = this.policy.maxConsecutiveFailures;
    const tooMany = limit > 0 && this.consecutiveFailures >= limit;
    const message = (e as Error)?.message ?? String(e);
    this.emit({ type: "error", code: "transcription_failed", message: tooMany ? `${this.consecutiveFailures} decodes in a row failed; last: ${message}` : message, fatal: tooMany || !retryable });
    this.lastDecodeEnd = job.end;
    // Keep the audio (never drop uncommitted speech on a transient failure) unless ending.
    if (job.reason === "end") this.completeFinal("end");
    else if (job.reason) this.finalWanted = this.finalWanted ?? job.reason;
    if (!this.finalWanted || this.done) return this.afterDecode();
    // A failing engine answers fast: retrying the wanted final at once would spin against it
    // (and use up maxConsecutiveFailures in a second); retry at the update cadence instead.
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.afterDecode();
    }, this.policy.updateMs);
    this.retryTimer.unref?.();
  }

  private onDecoded(r: TranscribeResult, job: DecodeJob): void {
    this.consecutiveFailures = 0;
    const hyp = this.transcript.hypothesis(r, sec(job.offset), sec(this.window.start));
    this.lastDecodeEnd = Math.max(this.lastDecodeEnd, job.end);
    this.processed = Math.max(this.processed, job.end);
    if (job.reason) this.onFinalDecoded(hyp, job, job.reason);
    else this.onPartialDecoded(hyp, job.end);
    this.afterDecode();
  }

  private onFinalDecoded(hyp: StreamWord[], job: DecodeJob, reason: FinalReason): void {
    this.commit(hyp, reason, job.end);
    this.prevHyps = [];
    const capped = job.end - job.offset >= samples(this.policy.maxWindowMs);
    // The window was capped at maxWindowMs: decode the rest before completing.
    if (capped && job.end < this.window.total && (reason === "end" || reason === "flush")) this.finalWanted = reason;
    else this.completeFinal(reason);
  }

  private onPartialDecoded(hyp: StreamWord[], end: number): void {
    const windowFull = end - this.window.start >= samples(this.policy.maxWindowMs);
    const c = partialCommits(hyp, this.prevHyps, this.policy.agreement, windowFull ? sec(end) : null);
    if (c.agreed > 0) this.commit(hyp.slice(0, c.agreed), "agreement");
    if (c.window > c.agreed) this.commit(hyp.slice(c.agreed, c.window), "window");
    if (windowFull && hyp.length === 0) this.window.dropBefore(end - SAMPLE_RATE); // nothing heard in a whole window
    this.prevHyps = c.prevHyps;
    this.sendPartial(hyp.slice(c.window), end);
  }

  private sendPartial(pending: StreamWord[], end: number): void {
    const text = joinWords(pending).text;
    if (!text && !this.lastPartial) return;
    this.lastPartial = text;
    const first = pending[0];
    const last = pending[pending.length - 1];
    this.emit({ type: "partial", text, start: round3(first?.start ?? sec(end)), end: round3(last?.end ?? sec(end)), words: pending.map(toWire), lagMs: this.lagMs });
  }

  /** Commits `words` and trims the window: finals take everything decoded, agreement up to the last agreed word. */
  private commit(words: StreamWord[], reason: "agreement" | "window" | FinalReason, decodedEnd?: number): void {
    if (words.length > 0) this.emit(this.transcript.commit(words, reason, this.lagMs));
    const cut = decodedEnd ?? (words.length ? Math.round(words[words.length - 1]!.end * SAMPLE_RATE) : this.window.start);
    this.window.dropBefore(cut);
  }

  /** Sends the closing events of a final whose words are committed. */
  private completeFinal(reason: FinalReason): void {
    this.lastPartial = "";
    if (reason === "utterance_end") {
      // Audio that arrived while this final was decoding may already hold the next utterance
      // (a client sending faster than the engine decodes): keep it; drop only trailing silence.
      const newSpeech = this.lastSpeechEnd > this.window.start;
      if (!newSpeech) this.window.dropBefore(this.window.total - samples(this.policy.preRollMs));
      this.speechInWindow = this.inUtterance || newSpeech;
      this.decodedSinceSilence = false;
      this.emit({ type: "utterance_end", at: round3(this.utteranceAt), lagMs: this.lagMs });
    } else if (reason === "end") {
      this.processed = this.window.total;
      this.emit({ type: "ended", text: this.transcript.text, segments: this.transcript.segments, audioMs: this.audioMs, lagMs: 0 });
      this.finish();
    } else {
      this.speechInWindow = this.inUtterance;
    }
  }

  // ---- events and the end -------------------------------------------------------------------

  private emit(ev: SpeechEvent): void {
    if (this.done) return;
    if (this.events.push(ev)) return;
    // The consumer left this many events unread: the queue has failed with QueueOverflowError,
    // which the consumer sees after what it has not read; the stream stops.
    this.log?.error({ session: this.sessionId, pending: this.policy.maxPendingEvents }, "speech events not consumed: stream stopped");
    this.finish();
  }

  /** A bug in the loop: say so once, fatally, instead of leaving the session waiting forever. */
  private crash(err: unknown): void {
    this.active = false;
    this.log?.error({ err, session: this.sessionId }, "speech stream failed");
    this.emit({ type: "error", code: "transcription_failed", message: "internal error in the speech stream", fatal: true });
    this.finish();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.abort.abort(new TranscriptionError("stream closed", { retryable: false }));
    this.events.close();
    this.onFinish(this);
  }
}
