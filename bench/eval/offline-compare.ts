// Offline WER and decode cost of several Whisper files on the same inputs: one decode per
// utterance (30 s encoder window, 1 thread, language "en"), the same decode and normalisation as
// eval:stt's offline column. For choosing a model size; the streaming figures come from eval:stt.
//
// Usage: node bin/run-ts.js bench/eval/offline-compare.ts [--models A.bin,B.bin] [--speakers 12]
//   [--sets so762,native] [--json FILE]
// Defaults: ggml-tiny.en.bin and ggml-base.bin in PARLANCE_REAL_MODELS_DIR (.cache/real-models).
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg as osLoadavg } from "node:os";
import { basename, join, resolve } from "node:path";
import { EmbeddedWhisperTranscriber } from "../../src/stt/embedded.js";
import { offline } from "./stt.js";
import { loadNative, loadSpeechocean, type EvalItem } from "./stt-data.js";
import { corpusWer, normalizeText, werCounts, type WerCounts } from "./wer.js";

const AUDIO_DIR = resolve(process.env.PARLANCE_AUDIO_DIR ?? "../shared/audio");
const REAL_DIR = resolve(process.env.PARLANCE_REAL_MODELS_DIR ?? ".cache/real-models");

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}

interface SetResult {
  items: number;
  words: number;
  wer: number;
  meanMs: number;
}

interface ModelResult {
  model: string;
  verification: string;
  loadStart: number[];
  loadEnd: number[];
  sets: Record<string, SetResult>;
  texts: Record<string, string>;
}

async function evalModel(model: string, items: EvalItem[]): Promise<ModelResult> {
  const verification = existsSync(`${model}.verification`) ? readFileSync(`${model}.verification`, "utf8").trim() : "no verification record";
  const t = await EmbeddedWhisperTranscriber.create({ modelPath: model, threads: 1, audioCtx: "full" });
  const loadStart = osLoadavg();
  const by = new Map<string, { counts: WerCounts[]; ms: number[] }>();
  const texts: Record<string, string> = {};
  try {
    // One warm-up decode: the first one pays for buffer allocation, not for the model.
    await offline(t, { ...items[0]!, audio: items[0]!.audio.slice(0, 16000 * 2), spans: [[0, 2]] });
    for (const it of items) {
      const t0 = performance.now();
      const text = await offline(t, it);
      const ms = performance.now() - t0;
      texts[it.id] = text;
      const e = by.get(it.set) ?? { counts: [], ms: [] };
      e.counts.push(werCounts(normalizeText(it.refs.join(" ")), normalizeText(text)));
      e.ms.push(ms);
      by.set(it.set, e);
      process.stderr.write(`${basename(model)} ${it.id} ${ms.toFixed(0)} ms\n`);
    }
  } finally {
    await t.close();
  }
  const sets: Record<string, SetResult> = {};
  for (const [set, e] of by)
    sets[set] = { items: e.counts.length, words: e.counts.reduce((n, c) => n + c.words, 0), wer: corpusWer(e.counts), meanMs: e.ms.reduce((a, b) => a + b, 0) / e.ms.length };
  return { model, verification, loadStart, loadEnd: osLoadavg(), sets, texts };
}

async function main() {
  const models = arg("models", [join(REAL_DIR, "ggml-tiny.en.bin"), join(REAL_DIR, "ggml-base.bin")].join(",")).split(",");
  for (const m of models) if (!existsSync(m)) throw new Error(`no model at ${m}: run scripts/fetch-real-models.sh`);
  const sets = arg("sets", "so762,native").split(",");
  const speakers = Number(arg("speakers", "12")) || undefined;
  const items: EvalItem[] = [
    ...(sets.includes("so762") ? loadSpeechocean(AUDIO_DIR, { speakers }).utterances : []),
    ...(sets.includes("native") ? loadNative(AUDIO_DIR) : []),
  ];
  if (!items.length) throw new Error("no items");
  const results: ModelResult[] = [];
  for (const m of models) results.push(await evalModel(m, items));
  console.log(`offline decode, 30 s encoder window, 1 thread, language en; speechocean762 speakers: ${speakers ?? "all"}`);
  console.log("| model | set | items | ref words | offline WER | mean decode ms/utt | load avg (1 min) start/end |");
  console.log("|---|---|---:|---:|---:|---:|---|");
  for (const r of results) {
    const label = `${basename(r.model)}${r.verification.includes("unverified") ? " (unverified conversion)" : ""}`;
    for (const [set, s] of Object.entries(r.sets))
      console.log(`| ${label} | ${set} | ${s.items} | ${s.words} | ${(100 * s.wer).toFixed(1)} % | ${s.meanMs.toFixed(0)} | ${r.loadStart[0]!.toFixed(2)} / ${r.loadEnd[0]!.toFixed(2)} |`);
  }
  const json = arg("json", "");
  if (json) writeFileSync(json, JSON.stringify(results, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
