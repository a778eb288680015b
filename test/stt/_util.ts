// Shared helpers for the STT tests (not a test file itself).
import { DecodeScheduler } from "../../src/stt/scheduler.js";
import { SttStream, DEFAULT_POLICY, type StreamPolicy } from "../../src/stt/stream.js";
import type { SpeechEvent, Transcriber } from "../../src/stt/types.js";

export const RATE = 16000;

/** Speech-like audio for the energy VAD: noise at about -20 dBFS with a syllable-rate wobble. */
export function voiced(seconds: number, seed = 1): Float32Array {
  let x = seed;
  const rnd = () => ((x = (x * 1103515245 + 12345) % 2147483648), x / 2147483648 - 0.5);
  return Float32Array.from({ length: Math.round(seconds * RATE) }, (_, i) => 0.25 * rnd() * (0.6 + 0.4 * Math.sin((2 * Math.PI * 4 * i) / RATE)));
}
export const silence = (seconds: number) => new Float32Array(Math.round(seconds * RATE));

export function concat(...parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  return out;
}

export function makeStream(t: Transcriber, policy: Partial<StreamPolicy> = {}, budget = 2) {
  const scheduler = new DecodeScheduler(t, budget);
  const stream = new SttStream({ sessionId: "t", language: "en", policy: { ...DEFAULT_POLICY, ...policy }, scheduler });
  return { stream, scheduler };
}

/** Collects every event until the iterator completes. */
export function collect(stream: AsyncIterable<SpeechEvent>): { events: SpeechEvent[]; finished: Promise<SpeechEvent[]> } {
  const events: SpeechEvent[] = [];
  const finished = (async () => {
    for await (const e of stream) events.push(e);
    return events;
  })();
  return { events, finished };
}

export async function idle(stream: { busy: boolean }): Promise<void> {
  while (stream.busy) await new Promise((r) => setTimeout(r, 1));
}

/**
 * Feeds audio in 250 ms chunks. paced=false waits for each decode to finish before the next
 * chunk (deterministic, as if the engine were infinitely fast relative to real time).
 */
export async function feed(stream: SttStream, audio: Float32Array, opts: { chunkMs?: number; realtime?: boolean } = {}) {
  const chunk = Math.round(((opts.chunkMs ?? 250) * RATE) / 1000);
  for (let i = 0; i < audio.length; i += chunk) {
    stream.pushAudio(audio.slice(i, i + chunk));
    if (opts.realtime) await new Promise((r) => setTimeout(r, opts.chunkMs ?? 250));
    else await idle(stream);
  }
}

export const finals = (ev: SpeechEvent[]) => ev.filter((e): e is Extract<SpeechEvent, { type: "final" }> => e.type === "final");
export const finalWords = (ev: SpeechEvent[]) => finals(ev).flatMap((f) => f.words.map((w) => w.word));
