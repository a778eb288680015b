// A scripted Transcriber for policy tests: no model, deterministic output, optional delay.
// stt.engine = "fake" (dev and tests) hears nothing.
import { SAMPLE_RATE } from "../domain/audio.js";
import type { SttEngineEntry } from "./engines.js";
import type { TranscribeRequest, TranscribeResult, Transcriber, TranscriberCapabilities, TranscribedSegment } from "./types.js";

export interface FakeCall {
  call: number;
  /** Stream time (s) of the window's first sample (TranscribeRequest.offsetSec, 0 if absent). */
  offset: number;
  duration: number;
  prompt?: string;
  threads?: number;
}

export type FakeResponder = (call: FakeCall) => TranscribedSegment[];

export interface FakeTranscriberOptions {
  respond?: FakeResponder;
  /** Simulated decode time (ms), on a timer (the event loop stays free, like the real engines). */
  delayMs?: number | ((call: FakeCall) => number);
  maxConcurrency?: number;
  /** Throw on these call numbers (0-based), to test decode failures. */
  failOn?: number[];
  /** What a scripted failure throws (default: a plain Error, which counts as retryable). */
  failWith?: (call: FakeCall) => Error;
}

export interface ScriptWord {
  word: string;
  /** Stream time, seconds. */
  start: number;
  end: number;
  probability?: number;
}

/**
 * A responder that "hears" a fixed transcript laid out on the stream's timeline: each call returns
 * the words that lie completely inside its window, with times relative to the window.
 */
export function timelineResponder(words: ScriptWord[], opts: { avgLogprob?: number } = {}): FakeResponder {
  return ({ offset, duration }) => {
    const inside = words.filter((w) => w.start >= offset - 0.05 && w.end <= offset + duration + 1e-9);
    if (inside.length === 0) return [];
    return [
      {
        text: inside.map((w) => w.word).join(" "),
        start: Math.max(0, inside[0]!.start - offset),
        end: inside[inside.length - 1]!.end - offset,
        words: inside.map((w) => ({ word: w.word, start: Math.max(0, w.start - offset), end: w.end - offset, probability: w.probability ?? 0.9 })),
        avgLogprob: opts.avgLogprob ?? -0.2,
        noSpeechProb: 0.01,
      },
    ];
  };
}

/** Words "a0 a1 a2 ..." every `spacing` seconds from `from` to `to`: a long continuous talker. */
export function steadySpeech(from: number, to: number, spacing = 0.4, prefix = "w"): ScriptWord[] {
  const out: ScriptWord[] = [];
  for (let t = from, i = 0; t + spacing <= to + 1e-9; t += spacing, i++) out.push({ word: `${prefix}${i}`, start: t, end: t + spacing * 0.8 });
  return out;
}

export class FakeTranscriber implements Transcriber {
  readonly name = "fake";
  readonly capabilities: TranscriberCapabilities;
  readonly calls: FakeCall[] = [];
  private readonly opts: FakeTranscriberOptions;
  private closed = false;

  constructor(opts: FakeTranscriberOptions = {}) {
    this.opts = opts;
    // A scripted engine costs nothing: no capacity measurement, a fixed stream count.
    this.capabilities = { local: true, trimmedEncoder: true, maxConcurrency: opts.maxConcurrency ?? 2, defaultStreams: 64 };
  }

  async transcribe(req: TranscribeRequest): Promise<TranscribeResult> {
    if (this.closed) throw new Error("fake transcriber closed");
    const call: FakeCall = { call: this.calls.length, offset: req.offsetSec ?? 0, duration: req.audio.length / SAMPLE_RATE, prompt: req.prompt, threads: req.threads };
    this.calls.push(call);
    const delay = typeof this.opts.delayMs === "function" ? this.opts.delayMs(call) : (this.opts.delayMs ?? 0);
    if (delay > 0) await abortableDelay(delay, req.signal);
    if (req.signal?.aborted) throw req.signal.reason;
    if (this.opts.failOn?.includes(call.call)) throw this.opts.failWith?.(call) ?? new Error(`scripted failure on call ${call.call}`);
    const segments = this.opts.respond ? this.opts.respond(call) : [];
    return { segments, language: req.language, decodeMs: delay };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** Like a real engine's request: an abort ends the wait at once. */
function abortableDelay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

export const fakeEngine: SttEngineEntry = {
  create: async () => ({ kind: "windowed", transcriber: new FakeTranscriber() }),
};
