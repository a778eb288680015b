// eval:stt — how parlance transcribes, with real Whisper weights, through the server's real path
// (SttStream's policy over the shared DecodeScheduler over the embedded whisper.cpp engine, fed in
// 250 ms chunks), against one offline decode of the same audio by the same model.
//
// Usage: npm run eval:stt -- [--model PATH] [--sets so762,so762-long,native,noise]
//   [--variants la2,la2-plain,la3,utterance] [--pace fast|realtime] [--speakers N] [--concurrency N]
//   [--only ID,ID] [--json FILE]
//
// --pace fast: each chunk is pushed as soon as the stream has finished the decode the last one
//   triggered, so a decode happens at the same points of the audio as in real time but the run
//   takes CPU time, not audio time. Latencies are then stream-time lateness plus the decode's own
//   wall time: what one stream on an idle machine sees. --pace realtime: chunks every 250 ms of
//   wall time, latencies by the clock.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { loadavg } from "node:os";
import { EmbeddedWhisperTranscriber } from "../../src/stt/embedded.js";
import { DecodeScheduler } from "../../src/stt/scheduler.js";
import { SttStream, DEFAULT_POLICY, type StreamPolicy } from "../../src/stt/stream.js";
import { policyFromConfig } from "../../src/stt/service.js";
import { loadConfig } from "../../src/config/index.js";
import type { SpeechEvent, Transcriber } from "../../src/stt/types.js";
import { loadNative, loadNoise, loadSpeechocean, RATE, type EvalItem } from "./stt-data.js";
import { alignRef, corpusWer, normalizeText, repeatedNgrams, werCounts, type WerCounts } from "./wer.js";

const argv = process.argv.slice(2);
const arg = (k: string, d: string) => {
  const i = argv.indexOf(`--${k}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : d;
};
const list = (k: string, d: string) => arg(k, d).split(",").map((x) => x.trim()).filter(Boolean);

const AUDIO_DIR = resolve(process.env.PARLANCE_AUDIO_DIR ?? "../shared/audio");
const REAL_DIR = resolve(process.env.PARLANCE_REAL_MODELS_DIR ?? ".cache/real-models");
const CHUNK = RATE / 4;

/**
 * The policy variants compared (docs/bench-stt-accuracy.md says which won and why), each relative
 * to the round-1 policy: LocalAgreement-2, verbatim prompt, 800 ms utterance end, log-prob guard -1.
 */
const ROUND1: Partial<StreamPolicy> = { agreement: 2, verbatimPrompt: true, utteranceEndMs: 800, firstUpdateMs: 1000, guards: { ...DEFAULT_POLICY.guards, logprobThreshold: -1 } };
const noGuard = { guards: { ...DEFAULT_POLICY.guards, logprobThreshold: -Infinity } };
export const VARIANTS: Record<string, Partial<StreamPolicy>> = {
  la2: ROUND1,
  "la2-plain": { ...ROUND1, verbatimPrompt: false },
  la3: { ...ROUND1, agreement: 3 },
  utterance: { ...ROUND1, agreement: 0 },
  "utterance-plain": { ...ROUND1, agreement: 0, verbatimPrompt: false },
  "utterance-w6": { ...ROUND1, agreement: 0, maxWindowMs: 6000 },
  "utterance-noguard": { ...ROUND1, agreement: 0, ...noGuard },
  "utterance-plain-noguard": { ...ROUND1, agreement: 0, verbatimPrompt: false, ...noGuard },
  "utterance-plain-noguard-ue1000": { ...ROUND1, agreement: 0, verbatimPrompt: false, utteranceEndMs: 1000, ...noGuard },
  "utterance-plain-noguard-ue1200": { ...ROUND1, agreement: 0, verbatimPrompt: false, utteranceEndMs: 1200, ...noGuard },
  "la2-plain-noguard-ue1200": { ...ROUND1, verbatimPrompt: false, utteranceEndMs: 1200, ...noGuard },
};

export interface StreamRun {
  text: string;
  /** Stream-time lateness + decode wall time (s) of the first partial/final after speech onset. */
  firstPartialS: number | null;
  /** Per committed word: when it was committed minus its end time (s). */
  commitLatencyS: number[];
  /** Wall time from end() to the `ended` event (s). */
  endToFinalS: number;
  decodes: number;
}

function policyFor(variant: string): StreamPolicy {
  // "default": exactly what the server runs with the default configuration.
  if (variant === "default") return policyFromConfig(loadConfig({ env: {} }));
  const v = VARIANTS[variant];
  if (!v) throw new Error(`unknown variant ${variant}; known: ${Object.keys(VARIANTS).join(", ")}`);
  return { ...DEFAULT_POLICY, ...v };
}

/** One stream of `audio` through the policy; `onsetS` is where speech starts (for first-partial latency). */
export async function streamAudio(t: Transcriber, audio: Float32Array, policy: StreamPolicy, pace: "fast" | "realtime", onsetS: number): Promise<StreamRun> {
  let decodes = 0;
  const counted: Transcriber = {
    name: t.name,
    capabilities: t.capabilities,
    transcribe: (r) => {
      decodes++;
      return t.transcribe(r);
    },
    close: () => t.close(),
  };
  const s = new SttStream({ sessionId: "eval", language: "en", policy, scheduler: new DecodeScheduler(counted, 1) });
  let pushedS = 0;
  let lastPushWall = performance.now();
  const t0 = performance.now();
  // Time of an event on the audio clock: how much audio existed when it was emitted.
  const now = () => (pace === "realtime" ? (performance.now() - t0) / 1000 : pushedS + (performance.now() - lastPushWall) / 1000);
  const texts: string[] = [];
  const commitLatencyS: number[] = [];
  let firstPartialS: number | null = null;
  let endedAt = 0;
  const drain = (async () => {
    for await (const e of s as AsyncIterable<SpeechEvent>) {
      const at = now();
      if ((e.type === "partial" || e.type === "final") && e.text && firstPartialS === null) firstPartialS = at - onsetS;
      if (e.type === "final") {
        texts.push(e.text);
        for (const w of e.words) commitLatencyS.push(at - w.end);
      }
      if (e.type === "ended") endedAt = performance.now();
    }
  })();
  for (let i = 0; i < audio.length; i += CHUNK) {
    s.pushAudio(audio.slice(i, i + CHUNK));
    if (pace === "realtime") {
      const due = t0 + ((i + CHUNK) / RATE) * 1000;
      await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    } else {
      pushedS = Math.min(audio.length, i + CHUNK) / RATE;
      lastPushWall = performance.now();
      while (s.busy) await new Promise((r) => setImmediate(r));
    }
  }
  const endAt = performance.now();
  if (pace === "fast") {
    pushedS = audio.length / RATE;
    lastPushWall = endAt;
  }
  s.end();
  await drain;
  return { text: texts.join(" "), firstPartialS, commitLatencyS, endToFinalS: (endedAt - endAt) / 1000, decodes };
}

/** One offline decode per utterance span (whole clip for noise, in 30 s pieces). */
export async function offline(t: Transcriber, item: EvalItem): Promise<string> {
  const spans = item.spans.length ? item.spans : Array.from({ length: Math.ceil(item.audio.length / RATE / 30) }, (_, i) => [i * 30, Math.min(item.audio.length / RATE, (i + 1) * 30)] as [number, number]);
  const out: string[] = [];
  for (const [a, b] of spans) {
    const r = await t.transcribe({ audio: item.audio.slice(Math.round(a * RATE), Math.round(b * RATE)), language: "en" });
    out.push(...r.segments.map((sg) => sg.text.trim()));
  }
  return out.join(" ");
}

/** First 30 ms frame louder than a tenth of the clip's loud frames: where speech starts. */
export function speechOnset(audio: Float32Array): number {
  const F = 480;
  const rms: number[] = [];
  for (let i = 0; i + F <= audio.length; i += F) {
    let e = 0;
    for (let j = i; j < i + F; j++) e += audio[j]! * audio[j]!;
    rms.push(Math.sqrt(e / F));
  }
  const loud = [...rms].sort((x, y) => x - y)[Math.floor(rms.length * 0.95)] ?? 0;
  const k = rms.findIndex((r) => r > loud / 10);
  return k < 0 ? 0 : (k * F) / RATE;
}

export interface ItemResult {
  id: string;
  set: string;
  variant: string;
  ref: string;
  streamed: string;
  offline: string;
  streamedWer: WerCounts;
  offlineWer: WerCounts;
  run: StreamRun;
  lostStart: number;
  lostEnd: number;
  offlineLostStart: number;
  offlineLostEnd: number;
  utterances: number;
  loops: number;
  doubled: number;
  noiseWords: number;
}

/** Reference words of each utterance that the alignment marks deleted, at its first and last word. */
function lostEdges(item: EvalItem, hyp: string): { start: number; end: number } {
  const refWords = item.refs.map((r) => normalizeText(r));
  const ops = alignRef(refWords.flat(), normalizeText(hyp));
  let at = 0;
  let start = 0;
  let end = 0;
  for (const w of refWords) {
    if (w.length === 0) continue;
    if (ops[at] === "del") start++;
    if (ops[at + w.length - 1] === "del") end++;
    at += w.length;
  }
  return { start, end };
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function main() {
  const model = arg("model", join(REAL_DIR, "ggml-tiny.en.bin"));
  if (!existsSync(model)) throw new Error(`no model at ${model}: run scripts/fetch-real-models.sh (or pass --model)`);
  const verification = existsSync(`${model}.verification`) ? readFileSync(`${model}.verification`, "utf8").trim() : "no verification record";
  const sets = list("sets", "so762,so762-long,native,noise");
  const variants = list("variants", "la2");
  const pace = arg("pace", "fast") as "fast" | "realtime";
  const speakers = Number(arg("speakers", "0")) || undefined;
  const concurrency = Number(arg("concurrency", pace === "fast" ? "2" : "1"));
  const so = sets.some((s) => s.startsWith("so762")) ? loadSpeechocean(AUDIO_DIR, { speakers }) : { utterances: [], long: [] };
  // --only id,id,...: re-measure just these items (an earlier run's outliers), same harness.
  const only = list("only", "");
  const items: EvalItem[] = [
    ...(sets.includes("so762") ? so.utterances : []),
    ...(sets.includes("so762-long") ? so.long : []),
    ...(sets.includes("native") ? loadNative(AUDIO_DIR) : []),
    ...(sets.includes("noise") ? loadNoise(AUDIO_DIR) : []),
  ].filter((it) => only.length === 0 || only.includes(it.id));
  const padSec = Number(arg("pad", "0"));
  const audioCtx = arg("ctx", "trim") as "trim" | "full";
  const streamEngine = await EmbeddedWhisperTranscriber.create({ modelPath: model, threads: 1, audioCtx, padSec });
  const offlineEngine = await EmbeddedWhisperTranscriber.create({ modelPath: model, threads: 1, audioCtx: "full" });
  console.error(`eval:stt model ${model} (${verification}); ${items.length} items; variants ${variants.join(",")}; pace ${pace}; concurrency ${concurrency}; encoder ${audioCtx}, pad ${padSec} s`);

  // Offline decodes once per item (the joined streams reuse their utterances' decodes), cached
  // per model file: they are deterministic (greedy, no prompt) and the costliest part of a run.
  const cachePath = join(resolve("bench/out"), `offline-${verification.match(/sha256=([0-9a-f]{12})/)?.[1] ?? "model"}.json`);
  const cache: Record<string, string> = existsSync(cachePath) ? JSON.parse(readFileSync(cachePath, "utf8")) : {};
  const offlineText = new Map<string, string>(Object.entries(cache));
  const work = [...items];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let it = work.shift(); it; it = work.shift()) {
        if (it.set === "so762-long" || offlineText.has(it.id)) continue;
        const text = await offline(offlineEngine, it);
        offlineText.set(it.id, text);
      }
    }),
  );
  for (const it of items) {
    if (it.set !== "so762-long") continue;
    // Utterances not decoded above (the so762 set not selected) are decoded here.
    const texts: string[] = [];
    for (const [k, id] of (it.parts ?? []).entries()) {
      const [a, b] = it.spans[k]!;
      texts.push(offlineText.get(id) ?? (await offline(offlineEngine, { ...it, audio: it.audio.slice(Math.round(a * RATE), Math.round(b * RATE)), spans: [[0, b - a]] })));
    }
    offlineText.set(it.id, texts.join(" "));
  }
  console.error(`offline decodes: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  mkdirSync(dirname(cachePath), { recursive: true });
  writeFileSync(cachePath, JSON.stringify(Object.fromEntries([...offlineText].filter(([k]) => !k.startsWith("speaker-")))));

  const results: ItemResult[] = [];
  const out = arg("json", "");
  console.log(`encoder window: ${audioCtx}, pad ${padSec} s`);
  for (const variant of variants) {
    const policy = policyFor(variant);
    const queue = [...items];
    const v0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let it = queue.shift(); it; it = queue.shift()) {
          const run = await streamAudio(streamEngine, it.audio, policy, pace, it.spans[0]?.[0] !== undefined ? Math.max(it.spans[0][0], speechOnset(it.audio)) : 0);
          const ref = it.refs.join(" ");
          const off = offlineText.get(it.id) ?? "";
          const le = lostEdges(it, run.text);
          const ol = lostEdges(it, off);
          const rep = repeatedNgrams(normalizeText(run.text), normalizeText(ref));
          results.push({
            id: it.id,
            set: it.set,
            variant,
            ref,
            streamed: run.text,
            offline: off,
            streamedWer: werCounts(normalizeText(ref), normalizeText(run.text)),
            offlineWer: werCounts(normalizeText(ref), normalizeText(off)),
            run,
            lostStart: le.start,
            lostEnd: le.end,
            offlineLostStart: ol.start,
            offlineLostEnd: ol.end,
            utterances: it.refs.length,
            loops: rep.loops,
            doubled: rep.doubled,
            noiseWords: it.set === "noise" ? normalizeText(run.text).length : 0,
          });
        }
      }),
    );
    console.error(`${variant}: ${((performance.now() - v0) / 1000).toFixed(0)} s`);
    // Each variant's figures as soon as it is done: a long run interrupted keeps what it measured.
    report(results.filter((r) => r.variant === variant), { model, verification, pace, variants: [variant], sets, header: variant === variants[0] });
    if (out) writeFileSync(out, JSON.stringify(results, null, 1));
  }
  await streamEngine.close();
  await offlineEngine.close();
}

export function summarize(rs: ItemResult[]) {
  const speech = rs.filter((r) => r.set !== "noise");
  const sw = corpusWer(speech.map((r) => r.streamedWer));
  const ow = corpusWer(speech.map((r) => r.offlineWer));
  const utts = speech.reduce((n, r) => n + r.utterances, 0);
  const fp = speech.map((r) => r.run.firstPartialS).filter((x): x is number => x !== null);
  const cl = speech.flatMap((r) => r.run.commitLatencyS);
  const ef = speech.map((r) => r.run.endToFinalS);
  return {
    items: rs.length,
    words: speech.reduce((n, r) => n + r.streamedWer.words, 0),
    streamedWer: sw,
    offlineWer: ow,
    ratio: ow > 0 ? sw / ow : NaN,
    noiseWords: rs.filter((r) => r.set === "noise").reduce((n, r) => n + r.noiseWords, 0),
    firstPartialP50: pct(fp, 50),
    firstPartialP95: pct(fp, 95),
    commitP50: pct(cl, 50),
    commitP95: pct(cl, 95),
    endFinalP50: pct(ef, 50),
    endFinalMax: ef.length ? Math.max(...ef) : NaN,
    lostStart: speech.reduce((n, r) => n + r.lostStart, 0) / Math.max(1, utts),
    lostEnd: speech.reduce((n, r) => n + r.lostEnd, 0) / Math.max(1, utts),
    offlineLostStart: speech.reduce((n, r) => n + r.offlineLostStart, 0) / Math.max(1, utts),
    offlineLostEnd: speech.reduce((n, r) => n + r.offlineLostEnd, 0) / Math.max(1, utts),
    loops: rs.reduce((n, r) => n + r.loops, 0),
    doubled: rs.reduce((n, r) => n + r.doubled, 0),
    decodes: rs.reduce((n, r) => n + r.run.decodes, 0),
  };
}

function report(rs: ItemResult[], meta: { model: string; verification: string; pace: string; variants: string[]; sets: string[]; header: boolean }) {
  const f = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : "-");
  if (meta.header) {
    console.log(`model: ${meta.model} (${meta.verification.includes("unverified") ? "unverified conversion" : meta.verification})`);
    console.log(`pace: ${meta.pace}; load average ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
    console.log("| variant | set | items | ref words | streamed WER | offline WER | ratio | words on noise | first partial p50/p95 s | commit p50/p95 s | end->final p50/max s | lost start/end per utt (offline) | loops | doubled |");
    console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
  }
  for (const v of meta.variants) {
    for (const set of [...meta.sets, "all speech"]) {
      const sub = rs.filter((r) => r.variant === v && (set === "all speech" ? r.set !== "noise" : r.set === set));
      if (sub.length === 0 || (set === "all speech" && meta.sets.filter((s) => s !== "noise").length < 2)) continue;
      const s = summarize(sub);
      const speech = set !== "noise";
      console.log(
        `| ${v} | ${set} | ${s.items} | ${speech ? s.words : "-"} | ${speech ? f(s.streamedWer) : "-"} | ${speech ? f(s.offlineWer) : "-"} | ${speech ? f(s.ratio, 2) : "-"} | ${set === "noise" ? s.noiseWords : "-"} | ${speech ? `${f(s.firstPartialP50, 2)} / ${f(s.firstPartialP95, 2)}` : "-"} | ${speech ? `${f(s.commitP50, 2)} / ${f(s.commitP95, 2)}` : "-"} | ${f(s.endFinalP50, 2)} / ${f(s.endFinalMax, 2)} | ${speech ? `${f(s.lostStart)} / ${f(s.lostEnd)} (${f(s.offlineLostStart)} / ${f(s.offlineLostEnd)})` : "-"} | ${s.loops} | ${s.doubled} |`,
      );
    }
  }
  const noisy = rs.filter((r) => r.set === "noise" && r.noiseWords > 0);
  for (const r of noisy) console.log(`words on ${r.id} (${r.variant}): ${r.streamed}`);
  const loopy = rs.filter((r) => r.loops > 0 || r.doubled > 0);
  for (const r of loopy.slice(0, 10)) console.log(`repetition in ${r.id} (${r.variant}): ${r.streamed}`);
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("bench/eval/stt.ts")) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
