// Helpers for bench:stt: the benchmark's audio, an instrumented transcriber, hooks on a stream's
// decode jobs, statistics and machine-load readings.
import { readFileSync } from "node:fs";
import { readWav } from "../../src/audio/wav.js";
import type { SttStream } from "../../src/stt/stream.js";
import type { TranscribeRequest, TranscribeResult, Transcriber } from "../../src/stt/types.js";
import { EnergyVad, VAD_FRAME_SAMPLES } from "../../src/audio/vad.js";
import { timelineResponder, type ScriptWord } from "../../src/stt/fake.js";

import { SAMPLE_RATE as RATE } from "../../src/domain/audio.js";
export { RATE };
export const CHUNK = 4000; // 250 ms, what a browser client sends

/** jfk.wav then the LibriSpeech utterance: real speech with jfk's natural pauses. */
export function speechLoop(audioDir: string): Float32Array {
  const parts = ["jfk.wav", "librispeech-7902-96591-0000.wav"].map((f) => {
    const w = readWav(`${audioDir}/${f}`);
    if (w.sampleRate !== RATE || w.channels !== 1) throw new Error(`${f}: expected 16 kHz mono, got ${w.sampleRate} Hz x ${w.channels}`);
    return w.samples;
  });
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** `n` samples of `loop` played from `from` (wrapping). */
export function loopSlice(loop: Float32Array, from: number, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = loop[(from + i) % loop.length]!;
  return out;
}

export interface DecodeRecord {
  wallMs: number;
  /** Process CPU time during the decode: only meaningful while one decode runs at a time. */
  cpuMs: number;
  windowSec: number;
  /** Stream time (s) of the window's last sample. */
  endSec: number;
  /** Committed-text tail sent as the initial prompt: the decoder processes it on every update. */
  promptChars: number;
  /** Words the decode returned (random weights: how much the decoder generated). */
  words: number;
  chars: number;
}

/** Records every decode's wall time, process CPU time and window. */
export class Timed implements Transcriber {
  decodes: DecodeRecord[] = [];
  /** When set, each decode's request is kept (parallel to `decodes`) so it can be replayed. */
  keep = false;
  requests: TranscribeRequest[] = [];
  constructor(readonly inner: Transcriber) {}
  get name() {
    return this.inner.name;
  }
  get capabilities() {
    return this.inner.capabilities;
  }
  async transcribe(req: TranscribeRequest): Promise<TranscribeResult> {
    if (this.keep) this.requests.push(req);
    const cpu0 = process.cpuUsage();
    const r = await this.inner.transcribe(req);
    const cpu = process.cpuUsage(cpu0);
    const windowSec = req.audio.length / RATE;
    this.decodes.push({
      wallMs: r.decodeMs,
      cpuMs: (cpu.user + cpu.system) / 1000,
      windowSec,
      endSec: (req.offsetSec ?? 0) + windowSec,
      promptChars: req.prompt?.length ?? 0,
      words: r.segments.reduce((n, sg) => n + sg.words.length, 0),
      chars: r.segments.reduce((n, sg) => n + sg.text.length, 0),
    });
    return r;
  }
  close() {
    return this.inner.close();
  }
}

export interface JobRecord {
  /** performance.now() when the decode started and when its result reached the stream. */
  takenAt: number;
  doneAt: number;
  /** Stream time (s) of the window's last sample. */
  endSec: number;
  /** The stream's lag right after the result: the lag_ms its partial/final carries on the wire. */
  lagMs: number;
}

/**
 * Records when each of the stream's decodes lands and what lag it carries, whether or not it
 * produced words: random weights often produce none, and then no partial event exists to time.
 * `onSettled` runs after the stream has handled the result.
 */
export function hookJobs(s: SttStream, onSettled: () => void = () => {}): JobRecord[] {
  const records: JobRecord[] = [];
  s.onDecodeSettled = (d) => {
    if (d.ok) records.push({ takenAt: d.startedAt, doneAt: performance.now(), endSec: d.endSec, lagMs: d.lagMs });
    onSettled();
  };
  return records;
}

export function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}
export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
export const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
export const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : "-");
export const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "-");
/** (max - min) / min, in %: the figure the 20 % bounded-cost target is about. */
export const spreadPct = (xs: number[]) => ((Math.max(...xs) - Math.min(...xs)) / Math.min(...xs)) * 100;

/** 1, 5 and 15 minute load averages: how busy the shared machine was (2 cores = load 2). */
export function loadavg(): string {
  try {
    return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  } catch {
    return "n/a";
  }
}

/** Wall and process CPU time of one decode run on its own. */
export async function timeDecode(t: Transcriber, req: TranscribeRequest): Promise<{ wallMs: number; cpuMs: number }> {
  const cpu0 = process.cpuUsage();
  const r = await t.transcribe(req);
  const cpu = process.cpuUsage(cpu0);
  return { wallMs: r.decodeMs, cpuMs: (cpu.user + cpu.system) / 1000 };
}

export const rssMB = () => process.memoryUsage.rss() / 1048576;
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

/**
 * The loop's reference words (REFERENCES.txt) laid on its timeline: each part's words share out
 * that part's speech frames (energy VAD) in proportion to their length, so pauses stay pauses.
 * An approximation of word timings, the same at every pass of the loop: what a model that hears
 * correctly would return, for measuring the policy's cost without random weights' arbitrary output.
 */
export function loopReferenceWords(audioDir: string): ScriptWord[] {
  const parts = [
    { file: "jfk.wav", text: "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country." },
    { file: "librispeech-7902-96591-0000.wav", text: "I am from the cutter lying off the coast." },
  ];
  const out: ScriptWord[] = [];
  let partStart = 0;
  for (const p of parts) {
    const samples = readWav(`${audioDir}/${p.file}`).samples;
    const speech = new EnergyVad().push(samples).filter((f) => f.speech).map((f) => f.start / RATE);
    const frameSec = VAD_FRAME_SAMPLES / RATE;
    const words = p.text.split(/\s+/);
    const weights = words.map((w) => w.length + 1);
    const total = weights.reduce((a, b) => a + b, 0);
    let used = 0;
    for (let i = 0; i < words.length; i++) {
      const from = Math.floor((used / total) * speech.length);
      used += weights[i]!;
      const to = Math.max(from, Math.ceil((used / total) * speech.length) - 1);
      const start = partStart + speech[from]!;
      const end = partStart + speech[Math.min(to, speech.length - 1)]! + frameSec;
      out.push({ word: words[i]!, start, end: Math.max(start + frameSec, start + (end - start) * 0.9) });
    }
    partStart += samples.length / RATE;
  }
  return out;
}

/**
 * The real engine does the decode (its cost is what is measured); the words returned are the
 * reference's, from `words` on the stream's timeline. Random weights' own output decides when
 * words commit, so it decides the window and the prompt; this takes that noise out.
 */
export class HeardAsReference implements Transcriber {
  private readonly respond: ReturnType<typeof timelineResponder>;
  constructor(
    readonly inner: Transcriber,
    words: ScriptWord[],
  ) {
    this.respond = timelineResponder(words);
  }
  get name() {
    return `${this.inner.name} (reference words)`;
  }
  get capabilities() {
    return this.inner.capabilities;
  }
  async transcribe(req: TranscribeRequest): Promise<TranscribeResult> {
    const r = await this.inner.transcribe(req);
    const segments = this.respond({ call: 0, offset: req.offsetSec ?? 0, duration: req.audio.length / RATE });
    return { segments, language: req.language, decodeMs: r.decodeMs };
  }
  close() {
    return this.inner.close();
  }
}
