// What one stream has committed, and how a decode becomes words on the stream's timeline: the
// guards, the loop cut and the seam dedupe turn a TranscribeResult into a hypothesis; commit()
// turns words into a numbered `final` event. The stream decides when; this decides what.
import { SAMPLE_RATE } from "../domain/audio.js";
import { joinWords } from "../domain/words.js";
import type { Logger } from "../util/log.js";
import type { SttMetrics } from "./metrics.js";
import { cutRepetition, dedupeSeam, judgeSegment, VERBATIM_PROMPTS, type GuardOptions, type StreamWord } from "./policy.js";
import type { SpeechEvent, TranscribeResult } from "./types.js";

export type CommitReason = "agreement" | "window" | "utterance_end" | "flush" | "end";
export type FinalEvent = Extract<SpeechEvent, { type: "final" }>;

/** Committed words kept for the prompt and the seam dedupe. */
const TAIL_WORDS = 50;

export class Transcript {
  private tail: StreamWord[] = [];
  private readonly texts: string[] = [];
  private nextSegmentId = 0;
  loopsCut = 0;
  droppedSegments = 0;

  constructor(
    private readonly opts: { sessionId: string; language: string; guards: GuardOptions; promptTailChars: number; verbatimPrompt: boolean },
    private readonly metrics: SttMetrics,
    private readonly log?: Logger,
  ) {}

  get segments(): number {
    return this.nextSegmentId;
  }
  get text(): string {
    return this.texts.join(" ").trim();
  }

  /** The decode's words on the stream timeline, minus guarded segments, loops and the seam repeat. */
  hypothesis(r: TranscribeResult, offsetSec: number, seamSec: number): StreamWord[] {
    const words: StreamWord[] = [];
    for (const s of r.segments) {
      const verdict = judgeSegment(s, this.opts.guards);
      if (verdict !== "ok") {
        this.droppedSegments++;
        this.metrics.emit({ type: "stt.guard_drop", verdict });
        this.log?.debug({ session: this.opts.sessionId, verdict, text: s.text }, "segment dropped by guard");
        continue;
      }
      for (const w of s.words) words.push({ word: w.word, start: offsetSec + w.start, end: offsetSec + w.end, probability: w.probability });
    }
    const loop = cutRepetition(words);
    if (loop.cut) {
      this.loopsCut++;
      this.metrics.emit({ type: "stt.loop_cut" });
    }
    return dedupeSeam(this.tail, loop.words, seamSec);
  }

  /** Commits `words` (non-empty) as the next segment. */
  commit(words: StreamWord[], reason: CommitReason, lagMs: number): FinalEvent {
    const text = joinWords(words).text;
    this.texts.push(text);
    this.tail.push(...words);
    if (this.tail.length > TAIL_WORDS) this.tail.splice(0, this.tail.length - TAIL_WORDS);
    return {
      type: "final",
      segmentId: this.nextSegmentId++,
      text,
      start: round3(words[0]!.start),
      end: round3(words[words.length - 1]!.end),
      words: words.map(toWire),
      reason,
      lagMs,
    };
  }

  /** The decoder prompt: the verbatim preamble (if on), then committed text, cut to the budget at a word. */
  promptTail(): string | undefined {
    const n = this.opts.promptTailChars;
    if (n <= 0) return undefined;
    const style = this.opts.verbatimPrompt ? (VERBATIM_PROMPTS[this.opts.language.split("-")[0]!] ?? "") : "";
    const text = [style, joinWords(this.tail).text].filter(Boolean).join(" ");
    if (!text) return undefined;
    return text.length <= n ? text : text.slice(text.indexOf(" ", text.length - n) + 1);
  }
}

export function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

export function toWire(w: StreamWord) {
  return { word: w.word, start: round3(w.start), end: round3(w.end), confidence: round3(w.probability) };
}

/** Stream samples -> seconds. */
export const sec = (samples: number) => samples / SAMPLE_RATE;
