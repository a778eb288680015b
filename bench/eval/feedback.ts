// Scores the feedback chain on learner sentences with gold corrections (JFLEG dev: 4 references
// each; kept in ../shared/eval, never copied into the repo), and the report's other claims:
//  - edit-level precision / recall / F0.5 (word-level edits, LCS alignment, the reference that
//    gives the best F0.5 per sentence, ERRANT/M2 style), before the gates and after each one;
//  - false-flag rate: the human-corrected sentences themselves as transcripts; a report that
//    flags anything is a false flag;
//  - spoken-style inputs (fillers, repetitions, self-corrections, no punctuation or capitals)
//    built from correct sentences: nothing may be flagged;
//  - CEFR stability: the same answer twice (other reports in between), same level;
//  - recommendations: lesson ids the model proposed that the retriever did not offer, and report
//    resources outside the offered set (must be 0);
//  - latency per report (p50, p95) and the load average.
// Sentences are a seeded sample (--seed, --limit), so runs on different models see the same ones.
// Usage: npm run eval:feedback -- [--limit 20] [--seed 1] [--false-flags 20] [--spoken 10] [--cefr 4]
//        [--model <gguf path or name>] [--provider embedded|ollama|openai] [--base-url URL]
//        [--prompt feedback-v2] [--no-span-fix] [--no-cut] [--verify measure|<margin>] [--no-reuse] [--data ../shared/eval/jfleg-dev.jsonl] [--out .cache/eval.jsonl] [--json summary.json]
import { appendFileSync, createReadStream, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { createInterface } from "node:readline";
import { Command } from "commander";
import { z } from "zod";
import { loadConfig } from "../../src/config/index.js";
import { createAnalyzer, type AnalysisDetail } from "../../src/analysis/analyzer.js";
import { PROMPT_VERSION, PROMPT_VERSIONS, type PromptVersion } from "../../src/analysis/chain.js";
import { createLlmBackend } from "../../src/analysis/models/factory.js";
import { ChatNodeLlamaCpp } from "../../src/analysis/models/embedded.js";
import { GATES, postCheckErrors, type Gate } from "../../src/analysis/postcheck.js";
import { createLogger, silentLogger } from "../../src/util/log.js";
import type { Word } from "../../src/protocol/messages.js";
import type { LanguageError } from "../../src/protocol/report.js";
import { edits, f05, scoreToks as toks } from "../../src/analysis/eval-score.js";
import { SqliteRepository } from "../../src/store/sqlite/repository.js";
import { createCurriculumRetriever, importCurriculum, DEFAULT_CURRICULUM_DIR } from "../../src/curriculum/index.js";
import { rng } from "./rng.js";

const opts = new Command()
  .option("--data <file>", "JSONL with {id, source, references[]}", "../shared/eval/jfleg-dev.jsonl")
  .option("--limit <n>", "learner sentences to score (P/R/F0.5)", "20")
  .option("--offset <n>", "skip the sample's first n sentences (a held-out split of the same seed; they are kept out of the other samples too)", "0")
  .option("--seed <n>", "seed of the sentence sample (same seed = same sentences)", "1")
  .option("--false-flags <n>", "corrected sentences fed as transcripts", "0")
  .option("--spoken <n>", "spoken-style correct answers", "0")
  .option("--cefr <n>", "answers analysed twice for CEFR stability", "0")
  .option("--model <model>", "PARLANCE_LLM_MODEL for this run")
  .option("--provider <p>", "PARLANCE_LLM_PROVIDER for this run")
  .option("--base-url <url>", "PARLANCE_LLM_BASE_URL for this run")
  .option("--max-tokens <n>", "llm.maxOutputTokens for this run")
  .option("--prompt <version>", `prompt version (${PROMPT_VERSIONS.join(", ")})`, PROMPT_VERSION)
  .option("--no-span-fix", "no span-repair pass (edits whose correction is their original are not asked again)")
  .option("--no-cut", "read every answer to the end (no early stop, analysis/answer-cut.ts)")
  .option("--verify <m>", "embedded: likelihood check margin (default the analyzer's VERIFY_MARGIN); 'measure' records each shown edit's gain and drops nothing")
  .option("--no-reuse", "embedded: evaluate the whole prompt for every report (no prefix reuse)")
  .option("--no-lessons", "no curriculum retriever")
  .option("--out <file>", "per-report results as JSONL")
  .option("--json <file>", "summary as JSON")
  .parse()
  .opts<{ data: string; limit: string; offset: string; seed: string; falseFlags: string; spoken: string; cefr: string; model?: string; provider?: string; baseUrl?: string; maxTokens?: string; prompt: string; spanFix: boolean; cut: boolean; verify?: string; reuse: boolean; lessons: boolean; out?: string; json?: string }>();

if (!(PROMPT_VERSIONS as readonly string[]).includes(opts.prompt)) throw new Error(`unknown prompt version ${opts.prompt}`);
const Item = z.object({ id: z.string(), source: z.string(), references: z.array(z.string()).min(1) });
type Item = z.infer<typeof Item>;

function sample<T>(xs: readonly T[], n: number, rand: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a.slice(0, n);
}

/** Written text as a "transcript": evenly timed words, full confidence. */
const asWords = (text: string, gapS = 0.1): Word[] => text.trim().split(/\s+/).map((w, i) => ({ word: w, start: i * (0.3 + gapS), end: i * (0.3 + gapS) + 0.3, confidence: 1 }));

/** Applies errors (character spans) to the transcript: the system's corrected sentence. */
function corrected(text: string, errors: readonly LanguageError[]): string {
  let out = text;
  for (const e of [...errors].filter((x) => x.type !== "recognition_uncertain").sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.correction + out.slice(e.end);
  return out;
}

/** Spoken-style answers: correct sentences said with fillers, a repetition, a restart, no punctuation. */
function spokenVariant(sentence: string, rand: () => number): { words: Word[]; text: string } {
  const base = sentence.toLowerCase().replace(/[^\p{L}\p{N}' ]+/gu, " ").split(/\s+/).filter(Boolean);
  const out: { w: string; pause?: boolean }[] = [];
  const rep = Math.floor(rand() * Math.max(1, base.length - 1));
  const filler = Math.floor(rand() * base.length);
  const restart = base.length > 6 ? 2 + Math.floor(rand() * (base.length - 4)) : -1;
  base.forEach((w, i) => {
    if (i === filler) out.push({ w: ["um", "uh", "er"][i % 3]!, pause: true });
    if (i === restart && base[i + 1]) {
      // "we went to the, sorry, we went to": the speaker restarts the phrase
      out.push({ w }, { w: base[i + 1]! }, { w: "sorry", pause: true });
    }
    out.push({ w });
    if (i === rep) out.push({ w });
  });
  let t = 0;
  const words: Word[] = out.map((o) => {
    const start = t + (o.pause ? 0.5 : 0.08);
    t = start + 0.3;
    return { word: o.w, start, end: t, confidence: 1 };
  });
  return { words, text: out.map((o) => o.w).join(" ") };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
};

const env: NodeJS.ProcessEnv = { ...process.env };
if (opts.model) env.PARLANCE_LLM_MODEL = opts.model;
if (opts.provider) env.PARLANCE_LLM_PROVIDER = opts.provider;
if (opts.baseUrl) env.PARLANCE_LLM_BASE_URL = opts.baseUrl;
if (opts.maxTokens) env.PARLANCE_LLM_MAX_OUTPUT_TOKENS = opts.maxTokens;
env.PARLANCE_ANALYSIS_MIN_WORDS ??= "1";
const config = loadConfig({ env });
const logger = createLogger(process.env.PARLANCE_LOG_LEVEL ?? "warn");
let repo: SqliteRepository | null = null;
if (opts.lessons) {
  repo = new SqliteRepository({ path: ":memory:", logger: silentLogger });
  await repo.migrate();
  await importCurriculum(repo, DEFAULT_CURRICULUM_DIR, silentLogger);
}
const backend = createLlmBackend(config, logger, { reusePrefix: opts.reuse });
const verifyMargin = opts.verify === undefined ? undefined : opts.verify === "measure" ? null : Number(opts.verify);
const analyzer = await createAnalyzer(config, { logger, backend, promptVersion: opts.prompt as PromptVersion, spanFix: opts.spanFix, answerCut: opts.cut, ...(verifyMargin !== undefined ? { verifyMargin } : {}), ...(repo ? { retriever: createCurriculumRetriever(repo, { k: 4 }) } : {}) });

const all: Item[] = [];
for await (const line of createInterface({ input: createReadStream(opts.data) })) if (line.trim()) all.push(Item.parse(JSON.parse(line)));
const rand = rng(Number(opts.seed));
const skipped = sample(all, Number(opts.offset) + Number(opts.limit), rand);
const gec = skipped.slice(Number(opts.offset));
// False flags and spoken inputs come from other sentences' corrections than the scored ones.
const rest = all.filter((x) => !skipped.includes(x));
const ffItems = sample(rest, Number(opts.falseFlags), rand);
const spokenItems = sample(rest.filter((x) => !ffItems.includes(x)), Number(opts.spoken), rand);
const cefrItems = Array.from({ length: Number(opts.cefr) }, () => sample(rest, 4, rand));

// The server primes the prompt prefix at start-up; so does the eval, outside the timed reports.
const tw = performance.now();
await analyzer.warmup();
process.stderr.write(`warm-up ${((performance.now() - tw) / 1000).toFixed(1)} s\n`);
const load0 = loadavg();
// Lines are written as they come, so a run cut short still leaves its reports for rescore.ts.
if (opts.out) writeFileSync(opts.out, "");
const lines = {
  n: 0,
  push(line: string) {
    this.n++;
    if (opts.out) appendFileSync(opts.out, line + "\n");
  },
};
const latencies: number[] = [];
let llmFailed = 0;
let invented = 0;
let proposedIds = 0;
let resourcesOutside = 0;
const t0 = performance.now();
const progress = (what: string) => process.stderr.write(`\r${what}, ${((performance.now() - t0) / 1000).toFixed(0)} s, load ${loadavg()[0]!.toFixed(1)}   `);

let timedOut = 0;
const ttfts: number[] = [];
const inTokens: number[] = [];
const outTokens: number[] = [];
const chat = await backend.chatModel();
const runtime = chat instanceof ChatNodeLlamaCpp ? chat.runtime : null;
async function run(kind: string, id: string, words: Word[]): Promise<AnalysisDetail | null> {
  const t = performance.now();
  const d = await analyzer.analyzeDetailed({ sessionId: id, language: "en", words, task: kind === "gec" || kind === "false_flag" ? "Written learner sentence (evaluation)" : "Talk about your day." }).catch((err: Error) => {
    // llm.timeoutMs on a loaded host: counted, and the report is left out of every figure.
    if (err.name !== "LlmUnavailableError") throw err;
    timedOut++;
    process.stderr.write(`\n${id}: ${err.message}\n`);
    return null;
  });
  if (!d) return null;
  latencies.push((performance.now() - t) / 1000);
  const call = runtime?.lastCall;
  if (call) {
    if (call.ttftMs !== null) ttfts.push(call.ttftMs / 1000);
    inTokens.push(call.inputTokens);
    outTokens.push(call.outputTokens);
  }
  if (d.report.llm_status === "failed") llmFailed++;
  const offered = new Set(d.offeredLessons);
  for (const r of d.feedback?.recommendations ?? []) for (const lid of r.lesson_ids) {
    proposedIds++;
    if (!offered.has(lid)) invented++;
  }
  for (const r of d.report.recommendations) for (const res of r.resources) if (!offered.has(res.lesson_id)) resourcesOutside++;
  return d;
}
/** What each JSONL line records besides the kind: the raw and repaired answers, the passes' work, tokens and time. */
const extra = (d: AnalysisDetail) => ({
  llm_status: d.report.llm_status,
  raw: d.feedback?.errors ?? null,
  before_fix: d.beforeFix ?? null,
  span_fix: d.spanFix ?? null,
  verify: d.verify ?? null,
  lm: d.lmEdits ?? null,
  shown: d.report.errors.map((e) => `${e.original} -> ${e.correction}`),
  s: latencies.at(-1),
  out_tokens: outTokens.at(-1),
  in_tokens: inTokens.at(-1),
  cut: runtime?.lastCall?.cut ?? null,
});

/** Errors a learner would see with only the given gates on (span placement always). */
function errorsWith(d: AnalysisDetail, gates: ReadonlySet<Gate>): LanguageError[] {
  if (!d.feedback || !d.check) return d.report.errors;
  return postCheckErrors(d.feedback.errors, { ...d.check, gates }).errors;
}
// Gates switched on one after another, in GATES order: the first row is "before the gates".
const ladders: { label: string; gates: Set<Gate> }[] = GATES.map((_, k) => ({ label: k === 0 ? "span only (before gates)" : `+ ${GATES[k]}`, gates: new Set(GATES.slice(0, k + 1)) }));
const score = ladders.map(() => ({ tp: 0, fp: 0, fn: 0 }));

try {
  let n = 0;
  for (const item of gec) {
    const d = await run("gec", item.id, asWords(item.source));
    if (!d) continue;
    const src = toks(item.source);
    ladders.forEach((l, k) => {
      const hyp = edits(src, toks(corrected(d.report.transcript.text, errorsWith(d, l.gates))));
      let best = { tp: 0, fp: hyp.size, fn: 0, f: -1 };
      for (const ref of item.references) {
        const gold = edits(src, toks(ref));
        const t = [...hyp].filter((e) => gold.has(e)).length;
        const cand = { tp: t, fp: hyp.size - t, fn: gold.size - t, f: f05(t, hyp.size - t, gold.size - t) };
        if (cand.f > best.f || (cand.f === best.f && cand.fn < best.fn)) best = cand;
      }
      score[k]!.tp += best.tp;
      score[k]!.fp += best.fp;
      score[k]!.fn += best.fn;
    });
    lines.push(JSON.stringify({ kind: "gec", id: item.id, ...extra(d) }));
    progress(`gec ${++n}/${gec.length}`);
  }
  const ff = ladders.map(() => 0);
  n = 0;
  for (const item of ffItems) {
    const ref = item.references[0]!;
    const d = await run("false_flag", `${item.id}-ref`, asWords(ref));
    if (!d) continue;
    ladders.forEach((l, k) => (ff[k]! += errorsWith(d, l.gates).some((e) => e.type !== "recognition_uncertain") ? 1 : 0));
    lines.push(JSON.stringify({ kind: "false_flag", id: item.id, text: ref, ...extra(d) }));
    progress(`false flags ${++n}/${ffItems.length}`);
  }
  const sp = ladders.map(() => 0);
  n = 0;
  for (const item of spokenItems) {
    const v = spokenVariant(item.references[0]!, rand);
    const d = await run("spoken", `${item.id}-spoken`, v.words);
    if (!d) continue;
    ladders.forEach((l, k) => (sp[k]! += errorsWith(d, l.gates).some((e) => e.type !== "recognition_uncertain") ? 1 : 0));
    lines.push(JSON.stringify({ kind: "spoken", id: item.id, text: v.text, ...extra(d) }));
    progress(`spoken ${++n}/${spokenItems.length}`);
  }
  // CEFR: every answer once, then every answer again, so other reports run in between.
  const levels: (string | null)[][] = cefrItems.map(() => []);
  for (let pass = 0; pass < 2; pass++) {
    for (const [k, group] of cefrItems.entries()) {
      const text = group.map((x) => x.source).join(" ");
      const d = await run("cefr", `cefr-${k}-${pass}`, asWords(text));
      levels[k]!.push(d ? d.report.level.cefr : null);
      progress(`cefr ${pass + 1}/2 ${k + 1}/${cefrItems.length}`);
    }
  }
  lines.push(JSON.stringify({ kind: "cefr", levels }));
  const load1 = loadavg();
  const summary = {
    model: analyzer.modelName,
    prompt: analyzer.promptVersion,
    span_fix: opts.spanFix,
    verify: opts.verify ?? null,
    reuse: opts.reuse,
    seed: Number(opts.seed),
    data: opts.data,
    sentences: gec.length,
    llm_failed: llmFailed,
    timed_out: timedOut,
    gates: ladders.map((l, k) => {
      const { tp, fp, fn } = score[k]!;
      return { step: l.label, tp, fp, fn, precision: tp + fp ? tp / (tp + fp) : 1, recall: tp + fn ? tp / (tp + fn) : 1, f05: f05(tp, fp, fn), false_flags: ffItems.length ? ff[k]! / ffItems.length : null, spoken_flagged: spokenItems.length ? sp[k]! / spokenItems.length : null };
    }),
    false_flag_n: ffItems.length,
    spoken_n: spokenItems.length,
    cefr_pairs: levels.length,
    cefr_same: levels.filter((l) => l[0] === l[1]).length,
    lesson_ids_proposed: proposedIds,
    lesson_ids_invented: invented,
    resources_outside_offered: resourcesOutside,
    reports: latencies.length,
    latency_p50_s: pct(latencies, 50),
    latency_p95_s: pct(latencies, 95),
    ttft_p50_s: pct(ttfts, 50),
    input_tokens_p50: pct(inTokens, 50),
    output_tokens_p50: pct(outTokens, 50),
    output_tokens_p95: pct(outTokens, 95),
    side_calls: runtime ? { ...runtime.sideCalls } : null,
    wall_s: (performance.now() - t0) / 1000,
    loadavg_start: load0.map((x) => x.toFixed(2)).join(" "),
    loadavg_end: load1.map((x) => x.toFixed(2)).join(" "),
  };
  if (opts.json) writeFileSync(opts.json, JSON.stringify(summary, null, 1) + "\n");
  const f3 = (x: number | null) => (x === null ? "-" : x.toFixed(3));
  console.log(`\nmodel ${summary.model}; prompt ${summary.prompt}; reuse ${summary.reuse}; seed ${summary.seed}: ${gec.length} sentences, ${ffItems.length} corrected, ${spokenItems.length} spoken, ${levels.length} CEFR pairs; llm failed on ${llmFailed}, timed out on ${timedOut}`);
  console.log(`| gates | TP | FP | FN | P | R | F0.5 | false-flag rate | spoken flagged |`);
  console.log(`|---|---|---|---|---|---|---|---|---|`);
  for (const g of summary.gates) console.log(`| ${g.step} | ${g.tp} | ${g.fp} | ${g.fn} | ${f3(g.precision)} | ${f3(g.recall)} | ${f3(g.f05)} | ${f3(g.false_flags)} | ${f3(g.spoken_flagged)} |`);
  console.log(`CEFR same level twice: ${summary.cefr_same}/${summary.cefr_pairs}; lesson ids proposed ${proposedIds}, not offered ${invented}, cited outside the offered set ${resourcesOutside}`);
  if (summary.side_calls) console.log(`side sequence (span repair, likelihood check): ${summary.side_calls.calls} calls, ${summary.side_calls.inputTokens} tokens evaluated, ${(summary.side_calls.ms / 1000).toFixed(1)} s in all`);
  console.log(`latency per report p50 ${summary.latency_p50_s.toFixed(1)} s, p95 ${summary.latency_p95_s.toFixed(1)} s over ${latencies.length} reports; TTFT p50 ${summary.ttft_p50_s.toFixed(1)} s; evaluated input tokens p50 ${summary.input_tokens_p50}, output p50 ${summary.output_tokens_p50}; wall ${summary.wall_s.toFixed(0)} s; loadavg ${summary.loadavg_start} -> ${summary.loadavg_end}`);
} finally {
  await analyzer.close();
  await repo?.close();
}
