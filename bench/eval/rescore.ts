// Re-scores recorded eval:feedback runs (--out JSONL: the model's raw errors per report) under
// other gate settings, without running the model again: how the gates were tuned. The figures
// it prints for a gate the recorded run also had are the recorded run's figures.
// Runs made with the span-repair pass also record the answer before it (before_fix): rows "without
// span repair" score that. Runs made with --verify measure record each shown edit's log-likelihood
// gain: rows "+ likelihood check >= m" keep only shown edits whose gain is at least m.
// feedback-v5 runs record every candidate edit the likelihood search verified: rows "likelihood
// edits, gain >= m" replay its selection at other gains.
// Usage: node bin/run-ts.js bench/eval/rescore.ts --runs a.jsonl[,b.jsonl] [--data ../shared/eval/jfleg-dev.jsonl]
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { ALL_GATES, GATES, postCheckErrors, sameWords, type Gate } from "../../src/analysis/postcheck.js";
import { disfluencies } from "../../src/analysis/metrics.js";
import { perTokenGain } from "../../src/analysis/passes.js";
import { gainNeeded, LM_EDIT_DEFAULTS, pickEdits } from "../../src/analysis/lm-edits.js";
import { confusions } from "../../src/analysis/confusions.js";
import { joinWords } from "../../src/analysis/text.js";
import { edits, f05, scoreToks as toks } from "../../src/analysis/eval-score.js";
import type { LlmError } from "../../src/analysis/llm-schema.js";
import type { Word } from "../../src/protocol/messages.js";
import type { LanguageError } from "../../src/protocol/report.js";

const opts = new Command()
  .option("--runs <files>", "comma list of eval:feedback --out files")
  .option("--data <file>", "the JFLEG JSONL the runs used", "../shared/eval/jfleg-dev.jsonl")
  .parse()
  .opts<{ runs: string; data: string }>();

const refs = new Map<string, { source: string; references: string[] }>();
for (const line of readFileSync(opts.data, "utf8").split("\n")) if (line.trim()) {
  const x = JSON.parse(line) as { id: string; source: string; references: string[] };
  refs.set(x.id, x);
}
const PAUSED = new Set(["um", "uh", "er", "sorry"]);
const words = (text: string): Word[] => {
  let t = 0;
  return text.trim().split(/\s+/).map((w) => {
    const start = t + (PAUSED.has(w) ? 0.5 : 0.1);
    t = start + 0.3;
    return { word: w, start, end: t, confidence: 1 };
  });
};
interface Row {
  kind: string;
  id: string;
  text?: string;
  raw: LlmError[] | null;
  before_fix?: LlmError[] | null;
  verify?: { edit: string; delta: number; original?: { logProb: number; tokens: number }; corrected?: { logProb: number; tokens: number } }[] | null;
  span_fix?: { asked: number; changed: number } | null;
  s?: number;
  out_tokens?: number;
  in_tokens?: number;
  /** feedback-v5 runs: every verified candidate edit with its gains (analysis/lm-edits.ts). */
  lm?: { candidates: number; screened: number; scored: { edit: string; at: number; delta: number; perToken: number; kept: boolean }[] } | null;
}
interface Variant {
  label: string;
  gates: Set<Gate>;
  /** Score the answer before the span-repair pass. */
  noFix?: boolean;
  /** Keep only shown edits with at least this log-likelihood gain (needs --verify measure runs). */
  minGain?: number;
  /** The gain per scored token (mean log-likelihood) instead of the sum: no bonus for deleting words. */
  perToken?: boolean;
  /** The answer as if cut after its first no-op error (analysis/answer-cut.ts; on answers read whole). */
  cut?: boolean;
  /** feedback-v5 runs: the likelihood edits as if found with these gains (lm-edits.ts LmEditOptions; the per-token check unless perTokenOff). */
  lm?: { minGain: number; choiceGain: number; perTokenOff?: boolean };
}

/** The edits lm-edits.ts would have shown at other gains: its selection, replayed on the recorded candidates. */
function lmErrors(text: string, r: Row, v: Variant): LlmError[] {
  const opts = { ...LM_EDIT_DEFAULTS, ...v.lm! };
  const kinds = new Map(confusions(text.trim().split(/\s+/)).map((c) => [`${c.at}|${c.original} -> ${c.correction}`, c]));
  // A recorded candidate confusions.ts no longer makes is not replayed.
  const needed = (x: { at: number; edit: string }) => {
    const c = kinds.get(`${x.at}|${x.edit.toLowerCase()}`);
    return c ? gainNeeded(c, opts) : Infinity;
  };
  const ok = (r.lm?.scored ?? []).filter((x) => x.delta >= needed(x) && (v.lm!.perTokenOff || x.perToken >= 0));
  const found = ok.map((x) => {
    const [original, correction] = x.edit.split(" -> ") as [string, string];
    return { c: { at: x.at, len: original.split(" ").length }, delta: x.delta, original, correction };
  });
  return pickEdits(found, opts.maxEdits).map((x) => ({ word_start: x.c.at, word_end: x.c.at + x.c.len - 1, original: x.original, correction: x.correction, type: "other", explanation: "", severity: "moderate" }));
}
function shown(text: string, r: Row, v: Variant): LanguageError[] {
  const ws = words(text);
  let written = v.lm ? lmErrors(text, r, v) : (r.before_fix ?? r.raw!);
  let answer = v.noFix || v.lm ? written : r.raw!;
  if (v.cut) {
    // The span repair changes corrections, never the order or number of errors.
    const k = written.findIndex((e) => sameWords(e.original, e.correction));
    if (k >= 0) [written, answer] = [written.slice(0, k + 1), answer.slice(0, k + 1)];
  }
  const errs = postCheckErrors(answer, { words: ws, transcript: joinWords(ws), uncertain: ws.map(() => false), disfluent: disfluencies(ws).indices, gates: v.gates, asWritten: written }).errors.filter((e) => e.type !== "recognition_uncertain");
  if (v.minGain === undefined) return errs;
  const perToken = (x: NonNullable<Row["verify"]>[number]) => (x.original && x.corrected ? perTokenGain(x as Parameters<typeof perTokenGain>[0]) : x.delta);
  const gain = new Map((r.verify ?? []).map((x) => [x.edit, v.perToken ? perToken(x) : x.delta]));
  return errs.filter((e) => (gain.get(`${e.original} -> ${e.correction}`) ?? Infinity) >= v.minGain!);
}
function corrected(text: string, errors: LanguageError[]): string {
  let out = joinWords(words(text)).text;
  for (const e of [...errors].sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.correction + out.slice(e.end);
  return out;
}

const variants: Variant[] = [
  { label: "all gates, without span repair", gates: new Set(ALL_GATES), noFix: true },
  ...GATES.map((_, k) => ({ label: k === 0 ? "span only (before gates)" : `+ ${GATES[k]}`, gates: new Set(GATES.slice(0, k + 1)) })),
  ...GATES.filter((g) => g !== "span").map((g) => ({ label: `all but ${g}`, gates: new Set([...ALL_GATES].filter((x) => x !== g)) })),
  ...[-2, 0, 1].map((m) => ({ label: `all gates + likelihood check >= ${m}`, gates: new Set(ALL_GATES), minGain: m })),
  { label: "all gates + likelihood check per token >= 0", gates: new Set(ALL_GATES), minGain: 0, perToken: true },
  { label: "cut at the first no-op, all gates", gates: new Set(ALL_GATES), cut: true },
  { label: "cut at the first no-op, all gates + likelihood check >= 0", gates: new Set(ALL_GATES), minGain: 0, cut: true },
  { label: "cut at the first no-op, all gates + likelihood check per token >= 0", gates: new Set(ALL_GATES), minGain: 0, perToken: true, cut: true },
];
const D = LM_EDIT_DEFAULTS;
const lmVariants: Variant[] = [
  ...[3, 4, 5, 6, 8].map((m) => ({ label: `likelihood edits, every type gain >= ${m}`, gates: new Set(ALL_GATES), lm: { minGain: m, choiceGain: m } })),
  ...[[3, 6], [4, 5], [4, 6], [4, 8], [5, 6], [5, 8]].map(([m, c]) => ({ label: `likelihood edits, gain >= ${m}, choices (${D.choiceTypes.join(", ")}) >= ${c}${m === D.minGain && c === D.choiceGain ? " (the default)" : ""}`, gates: new Set(ALL_GATES), lm: { minGain: m!, choiceGain: c! } })),
  { label: `likelihood edits, the default gains, no per-token check`, gates: new Set(ALL_GATES), lm: { minGain: D.minGain, choiceGain: D.choiceGain, perTokenOff: true } },
];
for (const file of opts.runs.split(",")) {
  const rows = readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Row);
  const byLikelihood = rows.some((r) => r.lm);
  console.log(`\n${file}: ${rows.filter((r) => r.kind === "gec").length} sentences, ${rows.filter((r) => r.kind === "false_flag").length} corrected, ${rows.filter((r) => r.kind === "spoken").length} spoken`);
  const pct = (xs: number[], p: number) => {
    const v = [...xs].sort((a, b) => a - b);
    return v.length ? v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))]! : NaN;
  };
  const timed = rows.filter((r) => typeof r.s === "number");
  const nums = (f: (r: Row) => number | undefined) => timed.map(f).filter((x): x is number => typeof x === "number");
  const fix = rows.reduce((a, r) => ({ asked: a.asked + (r.span_fix?.asked ?? 0), changed: a.changed + (r.span_fix?.changed ?? 0) }), { asked: 0, changed: 0 });
  console.log(`reports ${timed.length}: latency p50 ${pct(nums((r) => r.s), 50).toFixed(1)} s, p95 ${pct(nums((r) => r.s), 95).toFixed(1)} s; output tokens p50 ${pct(nums((r) => r.out_tokens), 50)}, p95 ${pct(nums((r) => r.out_tokens), 95)}; input tokens p50 ${pct(nums((r) => r.in_tokens), 50)}; span repair asked ${fix.asked}, changed ${fix.changed}`);
  console.log("| gates | TP | FP | FN | P | R | F0.5 | false-flag rate | spoken flagged |\n|---|---|---|---|---|---|---|---|---|");
  for (const v of byLikelihood ? lmVariants : variants) {
    let tp = 0, fp = 0, fn = 0, ff = 0, nff = 0, sp = 0, nsp = 0;
    for (const r of rows) {
      if (!r.raw) continue;
      if (r.kind === "gec") {
        const item = refs.get(r.id)!;
        const src = toks(item.source);
        const hyp = edits(src, toks(corrected(item.source, shown(item.source, r, v))));
        let best = { tp: 0, fp: hyp.size, fn: 0, f: -1 };
        for (const ref of item.references) {
          const gold = edits(src, toks(ref));
          const t = [...hyp].filter((e) => gold.has(e)).length;
          const c = { tp: t, fp: hyp.size - t, fn: gold.size - t, f: f05(t, hyp.size - t, gold.size - t) };
          if (c.f > best.f || (c.f === best.f && c.fn < best.fn)) best = c;
        }
        tp += best.tp;
        fp += best.fp;
        fn += best.fn;
      } else if (r.kind === "false_flag") {
        nff++;
        if (shown(r.text!, r, v).length) ff++;
      } else if (r.kind === "spoken") {
        nsp++;
        if (shown(r.text!, r, v).length) sp++;
      }
    }
    const f3 = (x: number) => x.toFixed(3);
    console.log(`| ${v.label} | ${tp} | ${fp} | ${fn} | ${f3(tp + fp ? tp / (tp + fp) : 1)} | ${f3(tp + fn ? tp / (tp + fn) : 1)} | ${f3(f05(tp, fp, fn))} | ${nff ? f3(ff / nff) : "-"} | ${nsp ? f3(sp / nsp) : "-"} |`);
  }
}
