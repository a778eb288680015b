// One session's speech stream: VAD-gated, windowed, LocalAgreement-2 streaming over a shared
// decode scheduler. Audio in (16 kHz mono), SpeechEvents out, in order.
//
// Window: audio since the last commit point, at most maxWindowMs. Every updateMs of new audio
// with speech in it, the window is decoded; words two consecutive decodes agree on are committed
// (final, reason "agreement") and the window start moves to the end of the last committed word.
// So each decode costs O(window), never O(utterance). A pause of utteranceEndMs, flush() and end()
// decode what is left and commit all of it.
import { EnergyVad, VAD_FRAME_SAMPLES, type EnergyVadOptions } from "../audio/vad.js";
import type { Logger } from "../util/log.js";
import type { DecodeJob, DecodeScheduler, JobSource } from "./scheduler.js";
import { agreedPrefix, cutRepetition, dedupeSeam, judgeSegment, joinWords, DEFAULT_GUARDS, VERBATIM_PROMPTS, type GuardOptions, type StreamWord } from "./policy.js";
import type { SpeechEvent, SpeechStream, TranscribeResult } from "./types.js";

const RATE = 16000;

export interface StreamPolicy {
  updateMs: number;
  /** The first decode after silence comes this soon after the audio it follows: the first partial is what tells a learner they are heard. */
  firstUpdateMs: number;
  maxWindowMs: number;
  utteranceEndMs: number;
  promptTailChars: number;
  /** Start every prompt from VERBATIM_PROMPTS[language] (when there is one) before committed text. */
  verbatimPrompt: boolean;
  /** Consecutive failed decodes after which the stream's error is fatal (0 = never). */
  maxConsecutiveFailures: number;
  /** Audio kept before detected speech so the first syllable is not cut. */
  preRollMs: number;
  /**
   * Commit rule: words that this many consecutive decodes agree on are committed (LocalAgreement-n);
   * 0 = no early commits, each utterance is committed whole when it ends (or the window fills).
   */
  agreement: number;
  guards: GuardOptions;
  vad?: EnergyVadOptions;
}

export const DEFAULT_POLICY: StreamPolicy = {
  updateMs: 1000,
  firstUpdateMs: 500,
  maxWindowMs: 15000,
  utteranceEndMs: 1200,
  promptTailChars: 200,
  verbatimPrompt: false,
  maxConsecutiveFailures: 30,
  preRollMs: 300,
  agreement: 0,
  guards: DEFAULT_GUARDS,
};

type FinalReason = "utterance_end" | "flush" | "end";

export interface StreamCounters {
  skippedPartials: number;
  loopsCut: number;
  droppedSegments: number;
}

export class SttStream implements SpeechStream, JobSource {
  readonly sessionId: string;
  private readonly language: string;
  private readonly policy: StreamPolicy;
  private readonly scheduler: DecodeScheduler;
  private readonly log: Logger | undefined;
  private readonly onFinish: (s: SttStream) => void;
  private readonly vad: EnergyVad;

  // Window audio: window[0] is stream sample `winStart`.
  private window = new Float32Array(RATE * 4);
  private winLen = 0;
  private winStart = 0;
  private total = 0;
  /** Audio up to here has been decoded or set aside as silence. */
  private processed = 0;
  private lastDecodeEnd = 0;

  private speechInWindow = false;
  private inUtterance = false;
  private lastSpeechEnd = 0;

  /** The last agreement-1 hypotheses past the committed text, oldest first. */
  private prevHyps: StreamWord[][] = [];
  private consecutiveFailures = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private committed: StreamWord[] = []; // bounded tail, for prompt and seam dedupe
  private committedText: string[] = [];
  private segmentId = 0;
  private lastPartial = "";
  /** A decode has started since the last silence or utterance end (see firstUpdateMs). */
  private decodedSinceSilence = false;

  private queued = false;
  private running = false;
  private finalWanted: FinalReason | null = null;
  private utteranceAt = 0;
  private ending = false;
  private done = false;

  private readonly events: SpeechEvent[] = [];
  private waiter: (() => void) | null = null;
  readonly counters: StreamCounters = { skippedPartials: 0, loopsCut: 0, droppedSegments: 0 };

  constructor(opts: {
    sessionId: string;
    language: string;
    policy: StreamPolicy;
    scheduler: DecodeScheduler;
    logger?: Logger;
    onFinish?: (s: SttStream) => void;
  }) {
    this.sessionId = opts.sessionId;
    this.language = opts.language;
    this.policy = opts.policy;
    this.scheduler = opts.scheduler;
    this.log = opts.logger;
    this.onFinish = opts.onFinish ?? (() => {});
    this.vad = new EnergyVad(opts.policy.vad);
  }

  get lagMs(): number {
    return Math.round(((this.total - this.processed) / RATE) * 1000);
  }
  get audioMs(): number {
    return Math.round((this.total / RATE) * 1000);
  }
  get wantsFinal(): boolean {
    return this.finalWanted !== null;
  }
  /** True while a decode is queued or running (tests and benchmarks wait on it). */
  get busy(): boolean {
    return this.queued || this.running;
  }

  pushAudio(samples: Float32Array): void {
    if (this.done || this.ending || samples.length === 0) return;
    this.append(samples);
    this.total += samples.length;
    const upd = (this.policy.updateMs * RATE) / 1000;
    const endGap = (this.policy.utteranceEndMs * RATE) / 1000;
    for (const f of this.vad.push(samples)) {
      const frameEnd = f.start + VAD_FRAME_SAMPLES;
      if (f.speech) {
        if (!this.inUtterance) {
          this.inUtterance = true;
          this.emit({ type: "speech_started", at: round3(Math.max(0, f.start - 2 * VAD_FRAME_SAMPLES) / RATE), lagMs: this.lagMs });
        }
        this.speechInWindow = true;
        this.lastSpeechEnd = frameEnd;
      } else if (this.inUtterance && frameEnd - this.lastSpeechEnd >= endGap) {
        this.inUtterance = false;
        this.utteranceAt = this.lastSpeechEnd / RATE;
        this.requestFinal("utterance_end");
      }
    }
    if (!this.speechInWindow && !this.finalWanted && !this.busy) {
      // Silence: nothing to decode. Keep a short pre-roll so speech onset keeps its first phone.
      this.dropBefore(this.total - (this.policy.preRollMs * RATE) / 1000);
      this.processed = this.total;
      this.lastDecodeEnd = this.total;
      this.decodedSinceSilence = false;
      return;
    }
    if (this.speechInWindow && this.total - this.lastDecodeEnd >= this.nextUpdateSamples(upd)) this.schedule();
  }

  /** Samples of new audio that call for the next decode: sooner for the first one after silence. */
  private nextUpdateSamples(upd: number): number {
    return !this.decodedSinceSilence ? Math.min(upd, (this.policy.firstUpdateMs * RATE) / 1000) : upd;
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
    this.scheduler.cancel(this);
    this.queued = false;
    this.events.length = 0; // abandoned: nothing more is delivered
    this.finish();
  }

  [Symbol.asyncIterator](): AsyncIterator<SpeechEvent> {
    return {
      next: async (): Promise<IteratorResult<SpeechEvent>> => {
        for (;;) {
          const ev = this.events.shift();
          if (ev) return { value: ev, done: false };
          if (this.done) return { value: undefined, done: true };
          await new Promise<void>((r) => (this.waiter = r));
        }
      },
      return: async (): Promise<IteratorResult<SpeechEvent>> => {
        this.close();
        return { value: undefined, done: true };
      },
    };
  }

  // ---- scheduling ---------------------------------------------------------------------------

  private requestFinal(reason: FinalReason): void {
    // end outranks flush outranks utterance_end; all of them commit everything.
    if (this.finalWanted === "end" || (this.finalWanted === "flush" && reason === "utterance_end")) {
      /* keep the stronger reason */
    } else this.finalWanted = reason;
    this.schedule();
  }

  private schedule(): void {
    if (this.done || this.queued) return;
    if (this.running) return; // re-checked when the running decode completes
    this.queued = true;
    this.scheduler.request(this);
  }

  takeJob(): DecodeJob | null {
    this.queued = false;
    if (this.done) return null;
    const reason = this.finalWanted;
    if (!this.speechInWindow) {
      // Nothing but silence pending: a final has nothing to commit.
      if (reason) this.completeFinal(reason);
      return null;
    }
    const maxWin = (this.policy.maxWindowMs * RATE) / 1000;
    const end = Math.min(this.total, this.winStart + maxWin);
    const len = end - this.winStart;
    if (len <= 0) {
      if (reason) this.completeFinal(reason);
      return null;
    }
    if (!reason) {
      const upd = (this.policy.updateMs * RATE) / 1000;
      const behind = Math.floor((end - this.lastDecodeEnd) / upd) - 1;
      if (behind > 0) this.counters.skippedPartials += behind; // degradation: merged partials
    }
    this.finalWanted = null;
    this.running = true;
    this.decodedSinceSilence = true;
    const offset = this.winStart;
    const audio = this.window.slice(0, len);
    const prompt = this.promptTail();
    return {
      request: { audio, language: this.language, prompt, offsetSec: offset / RATE },
      done: (r) => this.onDecoded(r, offset, end, reason),
      failed: (e) => this.onFailed(e, offset, end, reason),
    };
  }

  private onFailed(e: unknown, offset: number, end: number, reason: FinalReason | null): void {
    this.running = false;
    if (this.done) return;
    this.log?.warn({ err: e, session: this.sessionId }, "decode failed");
    this.consecutiveFailures++;
    // A session whose every decode fails is streaming into the void: after enough of them in a row
    // the client is told for good, so it can reconnect (perhaps to a healthy gateway) instead.
    const limit = this.policy.maxConsecutiveFailures;
    const fatal = limit > 0 && this.consecutiveFailures >= limit;
    const message = (e as Error)?.message ?? String(e);
    this.emit({ type: "error", code: "transcription_failed", message: fatal ? `${this.consecutiveFailures} decodes in a row failed; last: ${message}` : message, fatal });
    this.lastDecodeEnd = end;
    if (reason) {
      // Keep the audio (never drop uncommitted speech on a transient failure) unless ending.
      if (reason === "end") this.completeFinal("end");
      else this.finalWanted = this.finalWanted ?? reason;
    }
    void offset;
    if (this.finalWanted && !this.done) {
      // A failing engine answers fast: retrying the wanted final at once would spin against it
      // (and use up maxConsecutiveFailures in a second); retry at the update cadence instead.
      if (this.retryTimer) clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.afterDecode();
      }, this.policy.updateMs);
      this.retryTimer.unref?.();
    } else this.afterDecode();
  }

  private onDecoded(r: TranscribeResult, offset: number, end: number, reason: FinalReason | null): void {
    this.running = false;
    if (this.done) return;
    this.consecutiveFailures = 0;
    const hyp = this.hypothesis(r, offset / RATE);
    this.lastDecodeEnd = Math.max(this.lastDecodeEnd, end);
    this.processed = Math.max(this.processed, end);
    const windowFull = end - this.winStart >= (this.policy.maxWindowMs * RATE) / 1000;

    if (reason) {
      this.commit(hyp, reason, end);
      this.prevHyps = [];
      const capped = end - offset >= (this.policy.maxWindowMs * RATE) / 1000;
      if (capped && end < this.total && (reason === "end" || reason === "flush")) {
        // The window was capped at maxWindowMs: decode the rest before completing.
        this.finalWanted = reason;
      } else {
        this.completeFinal(reason);
      }
    } else {
      const need = this.policy.agreement - 1;
      const k = need >= 1 && this.prevHyps.length >= need ? Math.min(...this.prevHyps.map((p) => agreedPrefix(p, hyp))) : 0;
      let committedNow = k;
      if (k > 0) this.commit(hyp.slice(0, k), "agreement");
      if (windowFull) {
        // The window may not grow further: commit all but the words near its end, which the
        // next window (starting at the last commit) will hear again in full.
        const cutoff = end / RATE - 1.0;
        let j = committedNow;
        while (j < hyp.length && hyp[j]!.end <= cutoff) j++;
        if (j > committedNow) this.commit(hyp.slice(committedNow, j), "window");
        committedNow = j;
        if (j === 0 && hyp.length === 0) this.dropBefore(end - RATE); // nothing heard in 15 s
      }
      const pending = hyp.slice(committedNow);
      this.prevHyps = need >= 1 ? [...this.prevHyps.map((p) => p.slice(committedNow)), pending].slice(-need) : [];
      const text = joinWords(pending);
      if (text || this.lastPartial) {
        this.lastPartial = text;
        const first = pending[0];
        const last = pending[pending.length - 1];
        this.emit({
          type: "partial",
          text,
          start: round3(first?.start ?? end / RATE),
          end: round3(last?.end ?? end / RATE),
          words: pending.map(toWire),
          lagMs: this.lagMs,
        });
      }
    }
    this.afterDecode();
  }

  private afterDecode(): void {
    if (this.done) return;
    const upd = (this.policy.updateMs * RATE) / 1000;
    if (this.finalWanted || (this.speechInWindow && this.total - this.lastDecodeEnd >= this.nextUpdateSamples(upd))) this.schedule();
  }

  /** Commits everything decoded up to `end` (finals) and sends the closing events. */
  private completeFinal(reason: FinalReason): void {
    if (reason === "utterance_end") {
      // Audio that arrived while this final was decoding may already hold the next utterance
      // (a client sending faster than the engine decodes): keep it; drop only trailing silence.
      const newSpeech = this.lastSpeechEnd > this.winStart;
      if (!newSpeech) this.dropBefore(this.total - (this.policy.preRollMs * RATE) / 1000);
      this.speechInWindow = this.inUtterance || newSpeech;
      this.decodedSinceSilence = false;
      this.emit({ type: "utterance_end", at: round3(this.utteranceAt), lagMs: this.lagMs });
    } else if (reason === "end") {
      this.processed = this.total;
      this.emit({ type: "ended", text: this.committedText.join(" ").trim(), segments: this.segmentId, audioMs: this.audioMs, lagMs: 0 });
      this.finish();
    } else {
      this.speechInWindow = this.inUtterance;
    }
    if (this.lastPartial) {
      this.lastPartial = "";
    }
  }

  // ---- hypothesis and commit ------------------------------------------------------------------

  private hypothesis(r: TranscribeResult, offsetSec: number): StreamWord[] {
    let words: StreamWord[] = [];
    for (const s of r.segments) {
      const verdict = judgeSegment(s, this.policy.guards);
      if (verdict !== "ok") {
        this.counters.droppedSegments++;
        this.log?.debug({ session: this.sessionId, verdict, text: s.text }, "segment dropped by guard");
        continue;
      }
      for (const w of s.words) {
        words.push({ word: w.word, start: offsetSec + w.start, end: offsetSec + w.end, probability: w.probability });
      }
    }
    const loop = cutRepetition(words);
    if (loop.cut) this.counters.loopsCut++;
    words = loop.words;
    return dedupeSeam(this.committed, words, this.winStart / RATE);
  }

  private commit(words: StreamWord[], reason: "agreement" | "window" | FinalReason, decodedEnd?: number): void {
    if (words.length > 0) {
      const text = joinWords(words);
      this.emit({
        type: "final",
        segmentId: this.segmentId++,
        text,
        start: round3(words[0]!.start),
        end: round3(words[words.length - 1]!.end),
        words: words.map(toWire),
        reason,
        lagMs: this.lagMs,
      });
      this.committedText.push(text);
      this.committed.push(...words);
      if (this.committed.length > 50) this.committed.splice(0, this.committed.length - 50);
    }
    // Trim the window at the commit boundary: final commits take everything decoded, agreement
    // commits up to the end of the last agreed word.
    const cut = decodedEnd ?? (words.length ? Math.round(words[words.length - 1]!.end * RATE) : this.winStart);
    this.dropBefore(cut);
  }

  private promptTail(): string | undefined {
    const n = this.policy.promptTailChars;
    if (n <= 0) return undefined;
    const style = this.policy.verbatimPrompt ? (VERBATIM_PROMPTS[this.language.split("-")[0]!] ?? "") : "";
    const text = [style, joinWords(this.committed)].filter(Boolean).join(" ");
    if (!text) return undefined;
    return text.length <= n ? text : text.slice(text.indexOf(" ", text.length - n) + 1);
  }

  // ---- window buffer --------------------------------------------------------------------------

  private append(samples: Float32Array): void {
    if (this.winLen + samples.length > this.window.length) {
      const bigger = new Float32Array(Math.max(this.window.length * 2, this.winLen + samples.length));
      bigger.set(this.window.subarray(0, this.winLen));
      this.window = bigger;
    }
    this.window.set(samples, this.winLen);
    this.winLen += samples.length;
  }

  /** Drops window audio before stream sample `abs`. */
  private dropBefore(abs: number): void {
    const n = Math.min(this.winLen, Math.max(0, Math.floor(abs) - this.winStart));
    if (n <= 0) return;
    this.window.copyWithin(0, n, this.winLen);
    this.winLen -= n;
    this.winStart += n;
    // Shrink a buffer grown by a long backlog, so memory stays flat over hours.
    if (this.window.length > RATE * 64 && this.winLen < RATE * 16) this.window = this.window.slice(0, RATE * 32);
  }

  // ---- events ---------------------------------------------------------------------------------

  private emit(ev: SpeechEvent): void {
    if (this.done) return;
    this.events.push(ev);
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.onFinish(this);
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function toWire(w: StreamWord) {
  return { word: w.word, start: round3(w.start), end: round3(w.end), confidence: Math.round(w.probability * 1000) / 1000 };
}
