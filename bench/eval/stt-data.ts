// The eval:stt inputs: speechocean762 learner utterances (alone and joined into one stream per
// speaker), the native clips of REFERENCES.txt, and silence and pink noise.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { readWav } from "../../src/audio/wav.js";
import { rng } from "./rng.js";

import { SAMPLE_RATE as RATE } from "../../src/domain/audio.js";
export { RATE };

export interface EvalItem {
  id: string;
  set: "so762" | "so762-long" | "native" | "noise";
  audio: Float32Array;
  /** Reference text of each utterance in the item, in order ("" for noise). */
  refs: string[];
  /** Stream time (s) where each utterance starts and ends in `audio`. */
  spans: [number, number][];
  /** so762-long: the ids of the utterances joined, in order. */
  parts?: string[];
}

interface SoLine {
  id: string;
  speaker: string;
  age: number;
  text: string;
  file: string;
}

function mono16k(path: string): Float32Array {
  const w = readWav(path);
  if (w.sampleRate !== RATE || w.channels !== 1) throw new Error(`${path}: expected 16 kHz mono, got ${w.sampleRate} Hz x ${w.channels}`);
  return w.samples;
}

export function loadSpeechocean(audioDir: string, opts: { speakers?: number } = {}): { utterances: EvalItem[]; long: EvalItem[] } {
  const dir = join(audioDir, "speechocean762");
  const lines = readFileSync(join(dir, "utterances.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as SoLine);
  const bySpeaker = new Map<string, SoLine[]>();
  for (const l of lines) bySpeaker.set(l.speaker, [...(bySpeaker.get(l.speaker) ?? []), l]);
  let speakers = [...bySpeaker.keys()].sort();
  // A subset takes speakers spread evenly over the sorted list (children and adults both), not the first N.
  if (opts.speakers && opts.speakers < speakers.length) {
    const step = speakers.length / opts.speakers;
    speakers = Array.from({ length: opts.speakers }, (_, i) => speakers[Math.floor(i * step)]!);
  }
  const utterances: EvalItem[] = [];
  const long: EvalItem[] = [];
  const rand = rng(762);
  for (const sp of speakers) {
    const parts = bySpeaker.get(sp)!;
    const audios = parts.map((p) => mono16k(join(dir, p.file)));
    parts.forEach((p, i) => utterances.push({ id: p.id, set: "so762", audio: audios[i]!, refs: [p.text], spans: [[0, audios[i]!.length / RATE]] }));
    // One speaker's utterances joined by 0.5-2 s pauses (silence at the clips' own noise floor is
    // not known, so digital silence; the VAD sees a pause either way).
    const pauses = audios.slice(1).map(() => Math.round((0.5 + 1.5 * rand()) * RATE));
    const total = audios.reduce((n, a) => n + a.length, 0) + pauses.reduce((n, p) => n + p, 0);
    const joined = new Float32Array(total);
    const spans: [number, number][] = [];
    let at = 0;
    audios.forEach((a, i) => {
      joined.set(a, at);
      spans.push([at / RATE, (at + a.length) / RATE]);
      at += a.length + (pauses[i] ?? 0);
    });
    long.push({ id: `speaker-${sp}`, set: "so762-long", audio: joined, refs: parts.map((p) => p.text), spans, parts: parts.map((p) => p.id) });
  }
  return { utterances, long };
}

export function loadNative(audioDir: string): EvalItem[] {
  const items: EvalItem[] = [];
  for (const line of readFileSync(join(audioDir, "REFERENCES.txt"), "utf8").split("\n")) {
    if (!line.trim() || line.startsWith("#")) continue;
    const [file, format, ref] = line.split("|").map((s) => s.trim());
    if (!file || !ref || !file.endsWith(".wav") || !format?.includes("16 kHz mono")) continue;
    if (ref.startsWith("(nothing")) continue;
    const audio = mono16k(join(audioDir, file));
    items.push({ id: file, set: "native", audio, refs: [ref], spans: [[0, audio.length / RATE]] });
  }
  return items;
}

export function loadNoise(audioDir: string): EvalItem[] {
  return ["silence-60s.wav", "pink-noise-60s-low.wav"].map((f) => ({ id: f, set: "noise" as const, audio: mono16k(join(audioDir, f)), refs: [], spans: [] }));
}
