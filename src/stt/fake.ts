// A scripted Transcriber for policy tests: no model, deterministic output, optional delay.
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
    this.capabilities = {
      local: true,
      wordTimestamps: true,
      tokenProbabilities: true,
      noSpeechProbability: true,
      initialPrompt: true,
      trimmedEncoder: true,
      maxConcurrency: opts.maxConcurrency ?? 2,
    };
  }

  async transcribe(req: TranscribeRequest): Promise<TranscribeResult> {
    if (this.closed) throw new Error("fake transcriber closed");
    const call: FakeCall = { call: this.calls.length, offset: req.offsetSec ?? 0, duration: req.audio.length / 16000, prompt: req.prompt, threads: req.threads };
    this.calls.push(call);
    const delay = typeof this.opts.delayMs === "function" ? this.opts.delayMs(call) : (this.opts.delayMs ?? 0);
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    if (this.opts.failOn?.includes(call.call)) throw new Error(`scripted failure on call ${call.call}`);
    const segments = this.opts.respond ? this.opts.respond(call) : [];
    return { segments, language: req.language, decodeMs: delay };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
