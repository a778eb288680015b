// Report latency of the embedded LLM for real model shapes (random weights, real speed), alone and
// while 2 live STT streams decode 1 s windows every second, under the core policy of
// docs/analysis.md. Prints a markdown table. Usage:
//   npm run bench:analysis [-- --models .cache/models --tokens 250 --skip-contended]
// Model files (never committed): see docs/bench-analysis.md for the generator commands.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { availableParallelism, loadavg } from "node:os";
import { Command } from "commander";
import { Whisper } from "smart-whisper";
import { ChatNodeLlamaCpp, EmbeddedRuntime } from "../../src/analysis/models/embedded.js";
import { renderPrompt } from "../../src/analysis/chain.js";
import { LlmFeedback } from "../../src/analysis/llm-schema.js";
import { grammarJsonSchema } from "../../src/analysis/models/json-schema.js";

const opts = new Command()
  .option("--models <dir>", "folder with the generated GGUF/ggml files", ".cache/models")
  .option("--tokens <n>", "output tokens per report (a 5-error report is ~240)", "250")
  .option("--skip-contended", "only the alone figures")
  .parse()
  .opts<{ models: string; tokens: string; skipContended?: boolean }>();

const SHAPES = [
  { name: "Qwen2.5-0.5B Q8_0", file: "qwen2.5-0.5b-q8_0.gguf" },
  { name: "Llama-3.2-1B Q4_K_M", file: "llama3.2-1b-q4_k_m.gguf" },
];
const WHISPER = join(opts.models, "random-tiny.en.bin");
const CORES = availableParallelism();

function wav16k(path: string): Float32Array {
  const b = readFileSync(path);
  let off = 12;
  while (off < b.length) {
    const id = b.toString("ascii", off, off + 4);
    const size = b.readUInt32LE(off + 4);
    if (id === "data") {
      const n = size / 2;
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = b.readInt16LE(off + 8 + i * 2) / 32768;
      return out;
    }
    off += 8 + size + (size % 2);
  }
  throw new Error(`no data chunk in ${path}`);
}

const words = "well last summer I go to Spain with my family and um we stayed in a small hotel near the beach every day we swimmed and eat a lot of fish I think it was the best holiday because the people was very friendly and I can practise my Spanish".split(" ");
const vars = {
  task: "Describe a holiday you enjoyed.",
  learner_level: "unknown",
  numbered: words.map((w, i) => `${i}:${w}`).join(" "),
  text: words.join(" "),
  fluency: JSON.stringify({ words_per_minute: 112, fillers: 1, pauses_over_1s: 1, repetitions: 0, self_corrections: 0 }),
  lessons: "past-simple-irregular: Irregular past simple verbs [A2] tense, verb_form\nsubject-verb-agreement: Subject-verb agreement [A2] agreement",
};

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
};

/** 2 streams, 1 thread each, one 1.1 s window per second each (the STT scheduler's shape). */
function startStt(whisper: Whisper, audio: Float32Array) {
  const times: number[] = [];
  let late = 0;
  let stop = false;
  const stream = async (k: number) => {
    let t = 0;
    while (!stop) {
      const due = Date.now() + 1000;
      const start = (k * 16000 + t * 16000) % (audio.length - 17600);
      const t0 = performance.now();
      const task = await whisper.transcribe(audio.subarray(start, start + 17600), { language: "en", n_threads: 1, audio_ctx: 64, strategy: 0, max_tokens: 16 } as never);
      await task.result;
      const ms = performance.now() - t0;
      times.push(ms);
      if (ms > 1000) late++;
      t++;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  };
  const runs = [stream(0), stream(1)];
  return { times, get late() { return late; }, stop: async () => { stop = true; await Promise.all(runs); } };
}

async function reportLatency(file: string, threads: number) {
  const t0 = performance.now();
  const rt = await EmbeddedRuntime.load({ modelPath: file, threads, contextSize: 4096, sequences: 1 });
  const loadS = (performance.now() - t0) / 1000;
  const messages = await renderPrompt(vars);
  const promptTokens = rt.model.tokenize(messages.map((m) => String(m.content)).join("\n")).length;
  const model = new ChatNodeLlamaCpp({ runtime: rt, maxTokens: Number(opts.tokens) });
  const bound = model.withConfig({ jsonSchema: grammarJsonSchema(LlmFeedback) });
  const t1 = performance.now();
  let first = 0;
  let out = "";
  for await (const c of await bound.stream(messages)) {
    if (!first) first = performance.now();
    out += String(c.content);
  }
  const end = performance.now();
  const outTokens = rt.model.tokenize(out).length;
  await rt.close();
  return { loadS, promptTokens, outTokens, totalS: (end - t1) / 1000, promptS: (first - t1) / 1000, genTokS: outTokens / ((end - first) / 1000) };
}

const rows: string[] = [];
const audio = existsSync("/work/shared/audio/jfk.wav") ? wav16k("/work/shared/audio/jfk.wav") : new Float32Array(16000 * 11);
console.error(`cores: ${CORES}; output tokens per report: ${opts.tokens}; load average ${loadavg().map((x) => x.toFixed(1)).join(" ")}`);
let whisper: Whisper | undefined;
let sttAlone: number[] = [];
if (!opts.skipContended && existsSync(WHISPER)) {
  whisper = new Whisper(WHISPER, { gpu: false });
  const s = startStt(whisper, audio);
  await new Promise((r) => setTimeout(r, 8000));
  await s.stop();
  sttAlone = s.times;
  console.error(`STT alone: 2 streams, decode p50 ${pct(sttAlone, 50).toFixed(0)} ms, p95 ${pct(sttAlone, 95).toFixed(0)} ms`);
}
for (const shape of SHAPES) {
  const file = join(opts.models, shape.file);
  if (!existsSync(file)) {
    console.error(`missing ${file}: generate it first (docs/bench-analysis.md)`);
    continue;
  }
  const alone = await reportLatency(file, CORES);
  rows.push(`| ${shape.name} | alone, ${CORES} threads | ${alone.loadS.toFixed(1)} | ${alone.promptTokens} | ${alone.promptS.toFixed(1)} | ${alone.outTokens} | ${alone.genTokS.toFixed(1)} | **${alone.totalS.toFixed(1)}** | - | - |`);
  console.error(rows.at(-1));
  if (whisper) {
    const s = startStt(whisper, audio);
    // Policy: STT holds 2 threads on 2 cores -> the LLM gets max(1, cores - 2) = 1 thread.
    const llmThreads = Math.max(1, CORES - 2);
    const r = await reportLatency(file, llmThreads);
    await s.stop();
    rows.push(`| ${shape.name} | with 2 STT streams, ${llmThreads} thread | ${r.loadS.toFixed(1)} | ${r.promptTokens} | ${r.promptS.toFixed(1)} | ${r.outTokens} | ${r.genTokS.toFixed(1)} | **${r.totalS.toFixed(1)}** | ${pct(s.times, 50).toFixed(0)} / ${pct(s.times, 95).toFixed(0)} / ${Math.max(...s.times).toFixed(0)} | ${s.late} of ${s.times.length} |`);
    console.error(rows.at(-1));
  }
}
await whisper?.free();
console.log(`\nload average at the end: ${loadavg().map((x) => x.toFixed(1)).join(" ")}; cores ${CORES}; STT alone (2 streams x 1 thread, 1.1 s windows): decode p50 ${pct(sttAlone, 50).toFixed(0)} ms, p95 ${pct(sttAlone, 95).toFixed(0)} ms\n`);
console.log("| shape | condition | load s | prompt tok | prompt s | output tok | gen tok/s | report s | STT decode ms p50/p95/max | STT windows over 1 s |");
console.log("|---|---|---|---|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
