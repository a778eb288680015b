// Scores the feedback chain's error detection on learner sentences with gold corrections
// (JFLEG dev: 4 references each; kept in ../shared/eval, never copied into the repo).
// Edits are word-level (difflib-style alignment of source vs hypothesis); for each sentence the
// reference whose edits give the best F0.5 with the system's edits is used (ERRANT/M2 style).
// Usage: npm run eval:feedback -- [--limit 20] [--model <gguf path or name>] [--provider embedded|ollama|openai]
//        [--base-url URL] [--data ../shared/eval/jfleg-dev.jsonl] [--out .cache/eval.jsonl]
import { createReadStream, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { Command } from "commander";
import { z } from "zod";
import { loadConfig } from "../../src/config/index.js";
import { createAnalyzer } from "../../src/analysis/analyzer.js";
import { createLogger } from "../../src/util/log.js";
import type { Report } from "../../src/protocol/report.js";
import { edits, f05, toks } from "../../src/analysis/eval-score.js";

const opts = new Command()
  .option("--data <file>", "JSONL with {id, source, references[]}", "../shared/eval/jfleg-dev.jsonl")
  .option("--limit <n>", "sentences to score", "20")
  .option("--model <model>", "PARLANCE_LLM_MODEL for this run")
  .option("--provider <p>", "PARLANCE_LLM_PROVIDER for this run")
  .option("--base-url <url>", "PARLANCE_LLM_BASE_URL for this run")
  .option("--max-tokens <n>", "llm.maxOutputTokens for this run")
  .option("--out <file>", "per-sentence results as JSONL")
  .parse()
  .opts<{ data: string; limit: string; model?: string; provider?: string; baseUrl?: string; maxTokens?: string; out?: string }>();

const Item = z.object({ id: z.string(), source: z.string(), references: z.array(z.string()).min(1) });
/** Applies the report's errors (character spans) to the transcript: the system's corrected sentence. */
function corrected(report: Report): string {
  let text = report.transcript.text;
  for (const e of [...report.errors].filter((x) => x.type !== "recognition_uncertain").sort((a, b) => b.start - a.start)) text = text.slice(0, e.start) + e.correction + text.slice(e.end);
  return text;
}

const env: NodeJS.ProcessEnv = { ...process.env };
if (opts.model) env.PARLANCE_LLM_MODEL = opts.model;
if (opts.provider) env.PARLANCE_LLM_PROVIDER = opts.provider;
if (opts.baseUrl) env.PARLANCE_LLM_BASE_URL = opts.baseUrl;
if (opts.maxTokens) env.PARLANCE_LLM_MAX_OUTPUT_TOKENS = opts.maxTokens;
env.PARLANCE_ANALYSIS_MIN_WORDS ??= "1";
const config = loadConfig({ env });
const analyzer = await createAnalyzer(config, { logger: createLogger(process.env.PARLANCE_LOG_LEVEL ?? "warn") });

let tp = 0, fp = 0, fn = 0, n = 0, failed = 0;
const lines: string[] = [];
const t0 = performance.now();
try {
  for await (const line of createInterface({ input: createReadStream(opts.data) })) {
    if (!line.trim()) continue;
    if (n >= Number(opts.limit)) break;
    const item = Item.parse(JSON.parse(line));
    const src = toks(item.source);
    // Written text as a "transcript": evenly timed words, full confidence.
    const words = item.source.trim().split(/\s+/).map((w, i) => ({ word: w, start: i * 0.4, end: i * 0.4 + 0.3, confidence: 1 }));
    const report = await analyzer.analyze({ sessionId: item.id, language: "en", words, task: "Written learner sentence (evaluation)" });
    if (report.llm_status === "failed") failed++;
    const hyp = edits(src, toks(corrected(report)));
    // Closest reference: the one giving this hypothesis the best F0.5 (ties: fewer gold edits).
    let best = { tp: 0, fp: hyp.size, fn: 0, f: -1, ref: 0 };
    item.references.forEach((ref, k) => {
      const gold = edits(src, toks(ref));
      const t = [...hyp].filter((e) => gold.has(e)).length;
      const cand = { tp: t, fp: hyp.size - t, fn: gold.size - t, f: f05(t, hyp.size - t, gold.size - t), ref: k };
      if (cand.f > best.f || (cand.f === best.f && cand.fn < best.fn)) best = cand;
    });
    tp += best.tp;
    fp += best.fp;
    fn += best.fn;
    n++;
    lines.push(JSON.stringify({ id: item.id, llm_status: report.llm_status, hypothesis: corrected(report), edits: [...hyp], tp: best.tp, fp: best.fp, fn: best.fn, reference: best.ref }));
    process.stderr.write(`\r${n} sentences, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
} finally {
  await analyzer.close();
}
if (opts.out) writeFileSync(opts.out, lines.join("\n") + "\n");
const P = tp + fp ? tp / (tp + fp) : 1;
const R = tp + fn ? tp / (tp + fn) : 1;
console.log(`\nmodel ${analyzer.modelName}; ${n} sentences from ${opts.data}; llm failed on ${failed}; ${((performance.now() - t0) / 1000).toFixed(1)} s`);
console.log(`edit-level  TP ${tp}  FP ${fp}  FN ${fn}  precision ${P.toFixed(3)}  recall ${R.toFixed(3)}  F0.5 ${f05(tp, fp, fn).toFixed(3)}`);
