// Report latency of the embedded LLM for the real 0.5B and 1B shapes (random weights: real speed,
// meaningless text), alone and beside 2 live STT streams, with what the streams suffer meanwhile.
// Issue 5, acceptance 5; results and commands in docs/bench-analysis.md.
//
// Both sides are the server's own code: the report goes through the embedded backend
// (createLlmBackend -> ChatNodeLlamaCpp with the feedback-v1 prompt and the JSON-schema grammar),
// the thread cap through LlmAnalyzer.setSttThreads; the streams are SttStream on one
// DecodeScheduler over EmbeddedWhisperTranscriber (whisper.cpp, tiny.en shape), fed 250 ms chunks
// of real speech at real-time pace, like bench:stt.
//
// Conditions (--conditions, comma list):
//   alone      no STT; the LLM may use every core.
//   policy     2 streams; the LLM's cap follows the STT threads busy right now
//              (setSttThreads(busy) on every decode start/end: max(1, cores - busy)), the
//              wiring docs/analysis.md "Core policy" describes.
//   static     2 streams; the LLM capped at max(1, cores - 2) for the whole report
//              (what PARLANCE_LLM_THREADS=1 gives on 2 cores).
//   unmanaged  2 streams; no cap: the LLM takes every core.
//   deferred   2 streams; what the server does now: the STT service announces one thread per open
//              stream, which is every core here, so the analysis waits (LlmAnalyzer.waitForFreeCore)
//              for --defer-s while the streams run, then the streams end and the report runs.
//
// Usage: npm run bench:analysis -- [--models .cache/models] [--tokens 250] [--timeout-s 120]
//   [--conditions alone,policy,static,unmanaged] [--shapes 0.5b,1b] [--stt-alone-s 15] [--json out.json]
// Model files (never committed): generator commands in docs/bench-analysis.md.
import { SAMPLE_RATE } from "../../src/domain/audio.js";
import { existsSync, statSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { availableParallelism, cpus, loadavg } from "node:os";
import { Command } from "commander";
import type { LlamaContextSequence } from "node-llama-cpp";
import { loadConfig } from "../../src/config/index.js";
import { createLogger } from "../../src/util/log.js";
import { LlmAnalyzer } from "../../src/analysis/analyzer.js";
import { FEEDBACK_SCHEMAS, PROMPT_VERSION, promptPrefix, renderPrompt, type PromptVars } from "../../src/analysis/chain.js";
import { createLlmBackend } from "../../src/analysis/models/factory.js";
import type { ChatNodeLlamaCpp, ChatNodeLlamaCppCallOptions } from "../../src/analysis/models/embedded.js";
import { grammarJsonSchema } from "../../src/analysis/models/json-schema.js";
import { readWav } from "../../src/audio/wav.js";
import { EmbeddedWhisperTranscriber } from "../../src/stt/embedded.js";
import { DecodeScheduler } from "../../src/stt/scheduler.js";
import { DEFAULT_POLICY, SttStream, type StreamPolicy } from "../../src/stt/stream.js";
import type { TranscribeRequest, TranscribeResult, Transcriber } from "../../src/stt/types.js";

const opts = new Command()
  .option("--models <dir>", "folder with the generated GGUF files and random-tiny.en.bin", ".cache/models")
  .option("--tokens <n>", "output token limit per report (a 5-error report is ~240)", "250")
  .option("--timeout-s <s>", "per-report limit, as llm.timeoutMs (the server's default is 120 s)", "120")
  .option("--conditions <list>", "alone,policy,static,unmanaged,deferred", "alone,policy,static,unmanaged,deferred")
  .option("--defer-s <s>", "deferred: how long the streams run while the analysis waits", "20")
  .option("--shapes <list>", "0.5b,1b", "0.5b,1b")
  .option("--stt-alone-s <s>", "length of the STT-only baseline", "15")
  .option("--audio <dir>", "folder with jfk.wav and librispeech-7902-96591-0000.wav", "../shared/audio")
  .option("--skip-contended", "only the alone condition (same as --conditions alone)")
  .option("--llm <gguf>", "a real GGUF file instead of the generated shapes (e.g. .cache/real-models/<default>)")
  .option("--whisper <bin>", "whisper.cpp model instead of <models>/random-tiny.en.bin (e.g. .cache/real-models/ggml-tiny.en.bin)")
  .option("--threads <n>", "llm.threads ceiling (0 = all cores; 1 on a shared host, docs/bench-analysis.md)", "0")
  .option("--json <file>", "raw results as JSON")
  .parse()
  .opts<{ models: string; tokens: string; timeoutS: string; conditions: string; deferS: string; shapes: string; sttAloneS: string; audio: string; skipContended?: boolean; llm?: string; whisper?: string; threads: string; json?: string }>();

const SHAPES = opts.llm
  ? [{ key: "real", name: `${opts.llm.split("/").pop()} (real weights, ${PROMPT_VERSION}, prefix reused)`, file: resolve(opts.llm) }]
  : [
      { key: "0.5b", name: "Qwen2.5-0.5B Q8_0", file: "qwen2.5-0.5b-q8_0.gguf" },
      { key: "1b", name: "Llama-3.2-1B Q4_K_M", file: "llama3.2-1b-q4_k_m.gguf" },
    ].filter((s) => opts.shapes.split(",").includes(s.key));
type Condition = "alone" | "policy" | "static" | "unmanaged" | "deferred";
const CONDITIONS = (opts.skipContended ? ["alone"] : opts.conditions.split(",").map((c) => c.trim())) as Condition[];
for (const c of CONDITIONS) if (!["alone", "policy", "static", "unmanaged", "deferred"].includes(c)) throw new Error(`unknown condition ${c}`);
const CORES = availableParallelism();
const STREAMS = 2;
const RATE = SAMPLE_RATE;
const CHUNK = 4000; // 250 ms, what a browser client sends
const WHISPER = opts.whisper ? resolve(opts.whisper) : join(opts.models, "random-tiny.en.bin");
// SttService.admit() calls a stream "behind real time" past 3 update periods: the line a live
// stream must not cross while a report is generated.
const BEHIND_MS = 3 * DEFAULT_POLICY.updateMs;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
};
const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : "-");
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "-");
const load = () => loadavg().map((x) => x.toFixed(2)).join(" ");
const rssMB = () => process.memoryUsage().rss / 2 ** 20;

// A 46-word spoken answer with 5 learner errors: the report a real session would ask for.
const words = "well last summer I go to Spain with my family and um we stayed in a small hotel near the beach every day we swimmed and eat a lot of fish I think it was the best holiday because the people was very friendly and I can practise my Spanish".split(" ");
const vars: PromptVars = {
  task: "Describe a holiday you enjoyed.",
  learner_level: "unknown",
  numbered: words.map((w, i) => `${i}:${w}`).join(" "),
  text: words.join(" "),
  fluency: JSON.stringify({ words_per_minute: 112, fillers: 1, pauses_over_1s: 1, repetitions: 0, self_corrections: 0 }),
  lessons: "past-simple-irregular: Irregular past simple verbs [A2] tense, verb_form\nsubject-verb-agreement: Subject-verb agreement [A2] agreement",
};

// ---- STT side ----------------------------------------------------------------------------------

/** Counts the decode threads busy right now (the number the policy feeds to setSttThreads). */
class BusyThreads implements Transcriber {
  busy = 0;
  onChange: (busy: number) => void = () => {};
  decodes: { at: number; ms: number }[] = [];
  constructor(readonly inner: Transcriber) {}
  get name() {
    return this.inner.name;
  }
  get capabilities() {
    return this.inner.capabilities;
  }
  async transcribe(req: TranscribeRequest): Promise<TranscribeResult> {
    const n = req.threads ?? 1;
    this.busy += n;
    this.onChange(this.busy);
    const t0 = performance.now();
    try {
      return await this.inner.transcribe(req);
    } finally {
      this.busy -= n;
      this.onChange(this.busy);
      this.decodes.push({ at: performance.now(), ms: performance.now() - t0 });
    }
  }
  close() {
    return this.inner.close();
  }
}

function speechLoop(dir: string): Float32Array {
  const parts = ["jfk.wav", "librispeech-7902-96591-0000.wav"].map((f) => {
    const w = readWav(join(dir, f));
    if (w.sampleRate !== RATE || w.channels !== 1) throw new Error(`${f}: expected 16 kHz mono`);
    return w.samples;
  });
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}

// Random weights: the log-probability guard would drop every word and hide the cost of decoding
// and committing them; off here as in bench:stt (production keeps it on).
const STT_POLICY: StreamPolicy = { ...DEFAULT_POLICY, guards: { ...DEFAULT_POLICY.guards, logprobThreshold: -Infinity, noSpeechThreshold: 1, suppressHallucinations: true } };

interface SttTrace {
  /** Every decode result reaching a stream, with the lag its event carries. */
  results: { stream: number; at: number; lagMs: number }[];
  /** Each stream's lag every 100 ms: shows a stall even when no result lands. */
  lagSamples: { at: number; lagMs: number }[];
}

/** 2 independent clients at real-time pace on one scheduler, as SttService runs them. */
function startStt(t: BusyThreads, loop: Float32Array) {
  t.decodes = [];
  const scheduler = new DecodeScheduler(t, CORES);
  const streams = Array.from({ length: STREAMS }, (_, i) => new SttStream({ sessionId: `s${i}`, language: "en", policy: STT_POLICY, scheduler }));
  const trace: SttTrace = { results: [], lagSamples: [] };
  streams.forEach((s, i) => {
    s.onDecodeSettled = (d) => {
      if (d.ok) trace.results.push({ stream: i, at: performance.now(), lagMs: d.lagMs });
    };
  });
  const drains = streams.map(async (s) => {
    for await (const _ of s) void _;
  });
  const sampler = setInterval(() => {
    const at = performance.now();
    for (const s of streams) trace.lagSamples.push({ at, lagMs: s.lagMs });
  }, 100);
  let stop = false;
  // Each client at its own phase of the update period and its own place in the speech loop, so
  // their decodes and pauses do not line up.
  const feeders = streams.map(async (s, i) => {
    await sleep((i * STT_POLICY.updateMs) / STREAMS);
    const start = performance.now();
    const from = Math.round((i * loop.length) / STREAMS / CHUNK) * CHUNK;
    for (let k = 0; !stop; k++) {
      const chunk = new Float32Array(CHUNK);
      for (let j = 0; j < CHUNK; j++) chunk[j] = loop[(from + k * CHUNK + j) % loop.length]!;
      s.pushAudio(chunk);
      await sleep(start + (k + 1) * 250 - performance.now());
    }
    s.end();
  });
  return {
    trace,
    stop: async () => {
      stop = true;
      await Promise.all(feeders);
      await Promise.all(drains);
      clearInterval(sampler);
      scheduler.close();
    },
  };
}

interface SttStats {
  decodes: number;
  decodeP50: number;
  decodeP95: number;
  gapP50: number;
  gapP95: number;
  gapMax: number;
  lagP50: number;
  lagP95: number;
  lagMax: number;
  behindPct: number;
}

/** What the streams got in [a, b]: decode time, time between results per stream, lag. */
function sttStats(t: BusyThreads, trace: SttTrace, a: number, b: number): SttStats {
  const decodes = t.decodes.filter((d) => d.at >= a && d.at <= b).map((d) => d.ms);
  const gaps: number[] = [];
  let waitMax = 0;
  for (let i = 0; i < STREAMS; i++) {
    const at = trace.results.filter((r) => r.stream === i).map((r) => r.at);
    for (let k = 1; k < at.length; k++) if (at[k]! >= a && at[k]! <= b) gaps.push(at[k]! - at[k - 1]!);
    // A stream still waiting for its next result at b: a stall at the end must show in the max.
    const last = at.filter((x) => x <= b).at(-1);
    if (last !== undefined) waitMax = Math.max(waitMax, b - last);
  }
  const lags = trace.lagSamples.filter((s) => s.at >= a && s.at <= b).map((s) => s.lagMs);
  return {
    decodes: decodes.length,
    decodeP50: pct(decodes, 50),
    decodeP95: pct(decodes, 95),
    gapP50: pct(gaps, 50),
    gapP95: pct(gaps, 95),
    gapMax: gaps.length ? Math.max(waitMax, ...gaps) : NaN,
    lagP50: pct(lags, 50),
    lagP95: pct(lags, 95),
    lagMax: lags.length ? Math.max(...lags) : NaN,
    behindPct: lags.length ? (100 * lags.filter((l) => l > BEHIND_MS).length) / lags.length : NaN,
  };
}

// ---- LLM side ----------------------------------------------------------------------------------

interface ReportRun {
  promptTokens: number;
  outputTokens: number;
  ttftS: number;
  genTokS: number;
  totalS: number;
  capMean: number;
  capMin: number;
  outcome: "ok" | "limit" | "timeout";
}

async function oneReport(model: ChatNodeLlamaCpp, seq: LlamaContextSequence, jsonSchema: Record<string, unknown>): Promise<ReportRun> {
  const messages = await renderPrompt(vars);
  const m0 = seq.tokenMeter.getState();
  const caps: number[] = [];
  const capTimer = setInterval(() => caps.push(model.runtime.maxThreads), 50);
  const bound = model.withConfig({ jsonSchema } as Partial<ChatNodeLlamaCppCallOptions>);
  const t0 = performance.now();
  let first = 0;
  let outcome: ReportRun["outcome"] = "ok";
  try {
    for await (const _ of await bound.stream(messages)) if (!first) first = performance.now();
  } catch (e) {
    if ((e as Error).name !== "TimeoutError" && !/timeout|abort/i.test(String((e as Error).message))) throw e;
    outcome = "timeout";
  }
  const end = performance.now();
  clearInterval(capTimer);
  // The sequence's own meter: exact token counts (the prompt includes the chat template and the
  // few-shot pairs; the last prompt token is metered as "output" because its logits are read).
  const used = seq.tokenMeter.diff(m0);
  const outputTokens = Math.max(0, used.usedOutputTokens - 1);
  if (outcome === "ok" && outputTokens >= Number(opts.tokens)) outcome = "limit";
  return {
    promptTokens: used.usedInputTokens + 1,
    outputTokens,
    ttftS: first ? (first - t0) / 1000 : NaN,
    genTokS: first && outputTokens > 1 ? (outputTokens - 1) / ((end - first) / 1000) : NaN,
    totalS: (end - t0) / 1000,
    capMean: caps.length ? caps.reduce((a, b) => a + b, 0) / caps.length : model.runtime.maxThreads,
    capMin: caps.length ? Math.min(...caps) : model.runtime.maxThreads,
    outcome,
  };
}

// ---- run ---------------------------------------------------------------------------------------

const logger = createLogger(process.env.PARLANCE_LOG_LEVEL ?? "warn");
const machine = { cores: CORES, cpu: cpus()[0]?.model ?? "?", loadStart: load(), loadEnd: "" };
console.error(`cores ${CORES} (${machine.cpu}); output token limit ${opts.tokens}; load average at start ${machine.loadStart}`);
const needStt = CONDITIONS.some((c) => c !== "alone");
if (needStt && !existsSync(WHISPER)) throw new Error(`missing ${WHISPER}: python3 ../shared/tools/gen-random-whisper-ggml.py ../shared/models/for-tests-ggml-tiny.en.bin ${WHISPER}`);
const stt = needStt ? new BusyThreads(await EmbeddedWhisperTranscriber.create({ modelPath: WHISPER, threads: CORES, audioCtx: "trim", label: "tiny.en (random)" })) : undefined;
const loop = needStt ? speechLoop(opts.audio) : new Float32Array(0);

let sttAlone: SttStats | undefined;
if (stt) {
  const s = startStt(stt, loop);
  const a = performance.now();
  await sleep(Number(opts.sttAloneS) * 1000);
  const b = performance.now();
  await s.stop();
  // The first 3 s are the streams starting up; the same warm-up is skipped beside the LLM.
  sttAlone = sttStats(stt, s.trace, a + 3000, b);
  console.error(`STT alone (${STREAMS} streams): decode p50 ${f0(sttAlone.decodeP50)} ms, lag p95 ${f0(sttAlone.lagP95)} ms, max ${f0(sttAlone.lagMax)} ms`);
}

interface Row {
  shape: string;
  file: string;
  fileMB: number;
  loadS: number;
  grammarS: number;
  rssMB: number;
  condition: Condition;
  run: ReportRun;
  stt?: SttStats;
}
const rows: Row[] = [];
const jsonSchema = grammarJsonSchema(FEEDBACK_SCHEMAS[PROMPT_VERSION]);
for (const shape of SHAPES) {
  const file = resolve(opts.models, shape.file);
  if (!existsSync(file)) {
    console.error(`missing ${file}: generate it first (docs/bench-analysis.md)`);
    continue;
  }
  const config = loadConfig({ env: {}, flags: { "llm.model": file, "llm.maxOutputTokens": opts.tokens, "llm.timeoutMs": String(Number(opts.timeoutS) * 1000), "llm.threads": opts.threads } });
  const backend = createLlmBackend(config, logger);
  const analyzer = new LlmAnalyzer(config, { logger }, backend);
  const t0 = performance.now();
  const model = (await backend.chatModel()) as ChatNodeLlamaCpp;
  const loadS = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  await model.runtime.grammarFor(jsonSchema); // once per process in the server too; kept out of the per-report figure
  const grammarS = (performance.now() - t1) / 1000;
  const rss = rssMB();
  // As the server does at start: the prompt prefix evaluated once, outside the per-report figures.
  await model.prime(await promptPrefix());
  // analysis.concurrency = 1: one sequence, so this is the one every report runs on.
  const seq = await model.runtime.acquire();
  await model.runtime.release(seq);
  const { size } = statSync(file);
  for (const condition of CONDITIONS) {
    analyzer.setSttThreads(0);
    if (condition === "deferred") {
      const s = startStt(stt!, loop);
      analyzer.setSttThreads(STREAMS); // the service's announcement for 2 open streams
      await sleep(3000);
      const a = performance.now();
      const waited = analyzer.waitForFreeCore("bench").then(() => performance.now());
      await sleep(Number(opts.deferS) * 1000);
      const b = performance.now();
      await s.stop();
      const sttDuring = sttStats(stt!, s.trace, a, b);
      analyzer.setSttThreads(0); // the streams closed
      const startedAt = await waited;
      const run = await oneReport(model, seq, jsonSchema);
      // Latency as the learner sees it: from the request to the end of the report, wait included.
      run.totalS += (startedAt - a) / 1000;
      rows.push({ shape: shape.name, file: shape.file, fileMB: size / 2 ** 20, loadS, grammarS, rssMB: rss, condition, run, stt: sttDuring });
    } else if (condition === "alone") {
      const run = await oneReport(model, seq, jsonSchema);
      rows.push({ shape: shape.name, file: shape.file, fileMB: size / 2 ** 20, loadS, grammarS, rssMB: rss, condition, run });
    } else {
      const s = startStt(stt!, loop);
      if (condition === "policy") stt!.onChange = (busy) => analyzer.setSttThreads(busy);
      if (condition === "static") analyzer.setSttThreads(STREAMS);
      await sleep(3000);
      const a = performance.now();
      const run = await oneReport(model, seq, jsonSchema);
      const b = performance.now();
      stt!.onChange = () => {};
      await s.stop();
      rows.push({ shape: shape.name, file: shape.file, fileMB: size / 2 ** 20, loadS, grammarS, rssMB: rss, condition, run, stt: sttStats(stt!, s.trace, a, b) });
    }
    const r = rows.at(-1)!;
    console.error(
      `${shape.name} ${condition}: ${r.run.outcome} ${f1(r.run.totalS)} s, ${r.run.promptTokens}+${r.run.outputTokens} tok, ttft ${f1(r.run.ttftS)} s, ${f1(r.run.genTokS)} tok/s, cap ${f1(r.run.capMean)}` +
        (r.stt ? `; STT lag p95 ${f0(r.stt.lagP95)} max ${f0(r.stt.lagMax)} ms` : "") +
        `; load ${load()}`,
    );
  }
  analyzer.setSttThreads(0);
  await analyzer.close();
}
await stt?.close();
machine.loadEnd = load();

const label: Record<Condition, string> = {
  alone: `alone`,
  policy: `${STREAMS} STT streams, cap = cores - busy STT threads`,
  static: `${STREAMS} STT streams, cap ${Math.max(1, CORES - STREAMS)}`,
  unmanaged: `${STREAMS} STT streams, no cap`,
  deferred: `${STREAMS} STT streams, analysis waits (server policy), report once they end`,
};
const out: string[] = [];
out.push(`cores ${CORES} (${machine.cpu}); load average (1/5/15 min) at start ${machine.loadStart}, at end ${machine.loadEnd}`);
out.push(`output token limit ${opts.tokens}; report time limit ${opts.timeoutS} s; STT: ${STREAMS} streams x whisper.cpp ${opts.whisper ? `${basename(opts.whisper)} (the given file)` : "tiny.en shape (random weights)"}, 1 thread per decode, update every ${DEFAULT_POLICY.updateMs} ms`);
out.push("");
out.push("| shape | file MB | load s | grammar s | RSS MB |");
out.push("|---|---|---|---|---|");
for (const r of rows.filter((x, i, a) => a.findIndex((y) => y.shape === x.shape) === i)) out.push(`| ${r.shape} | ${f0(r.fileMB)} | ${f1(r.loadS)} | ${f1(r.grammarS)} | ${f0(r.rssMB)} |`);
out.push("");
out.push("| shape | condition | LLM threads (mean / min) | prompt tok | output tok | time to first token s | gen tok/s | report s | outcome |");
out.push("|---|---|---|---|---|---|---|---|---|");
for (const r of rows) {
  out.push(`| ${r.shape} | ${label[r.condition]} | ${f1(r.run.capMean)} / ${r.run.capMin} | ${r.run.promptTokens} | ${r.run.outputTokens} | ${f1(r.run.ttftS)} | ${f1(r.run.genTokS)} | **${f1(r.run.totalS)}** | ${r.run.outcome} |`);
}
if (sttAlone || rows.some((r) => r.stt)) {
  out.push("");
  out.push(`STT during the report (lag sampled every 100 ms per stream; "behind" = lag over ${BEHIND_MS} ms, SttService's own threshold):`);
  out.push("");
  out.push("| shape | condition | decodes | decode ms p50 / p95 | ms between results p50 / p95 / max | lag ms p50 / p95 / max | % of time behind |");
  out.push("|---|---|---|---|---|---|---|");
  const sttRow = (shape: string, cond: string, s: SttStats) =>
    `| ${shape} | ${cond} | ${s.decodes} | ${f0(s.decodeP50)} / ${f0(s.decodeP95)} | ${f0(s.gapP50)} / ${f0(s.gapP95)} / ${f0(s.gapMax)} | ${f0(s.lagP50)} / ${f0(s.lagP95)} / ${f0(s.lagMax)} | ${f1(s.behindPct)} |`;
  if (sttAlone) out.push(sttRow("(no LLM)", `${STREAMS} STT streams alone, ${opts.sttAloneS} s`, sttAlone));
  for (const r of rows) if (r.stt) out.push(sttRow(r.shape, label[r.condition], r.stt));
}
console.log("\n" + out.join("\n"));
if (opts.json) writeFileSync(opts.json, JSON.stringify({ machine, options: opts, sttAlone, rows }, null, 2) + "\n");
