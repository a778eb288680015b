// Grammar errors found by the model's likelihoods instead of its writing (embedded only): every
// candidate edit of the transcript (confusions.ts) is scored in context, and an edit is shown
// only when the model finds the corrected words clearly more likely than the learner's. The
// 0.5B default writes few real corrections (recall ~1 % on JFLEG, docs/bench-analysis.md) and
// most of a report's time is its writing; as a scorer it reads the transcript once and judges each
// candidate on ~10 tokens. Bryant & Briscoe (2018) measured this design with an n-gram model.
//
// Two steps, so that a 30 s answer's ~100 candidates cost little more than reading it:
// 1. screen: one pass over the transcript gives, where each word starts, how likely each
//    candidate's first token is after the words before it; a candidate far below the learner's
//    word is dropped without looking at the words after it.
// 2. verify: the rest are scored with both neighbourhoods (passes.ts editGain); an edit is kept
//    when its summed gain reaches `minGain` and it is not less likely per token (the likelihood
//    check the model's own edits pass).
import type { LlmError } from "./llm-schema.js";
import { confusions, type Candidate } from "./confusions.js";
import { editGain, perTokenGain, type Scorer } from "./passes.js";

export interface WordScorer {
  /** embedded.ts EmbeddedRuntime.wordScores. */
  wordScores(context: string, words: readonly string[], alternatives: readonly (readonly string[])[]): Promise<{ word: number[]; alt: number[][] }>;
}

export interface LmEditOptions {
  /** Summed log-likelihood gain (nats) an edit needs in its neighbourhood. */
  minGain: number;
  /** Screen: how far (nats) below the learner's word a candidate's first token may start. */
  screenSlack: number;
  /** At most this many edits per report (the most likely first). */
  maxEdits: number;
}

/**
 * Tuned on JFLEG (docs/bench-analysis.md, "Errors from likelihoods"): the gain at which edits
 * stop being mostly rewrites of correct words, and a screen that keeps every edit the full
 * scoring would keep on the tuning sample.
 */
export const LM_EDIT_DEFAULTS: LmEditOptions = { minGain: 4, screenSlack: 2, maxEdits: 4 };
const SCREEN_CONTEXT = "Correct English:";

export interface LmEditResult {
  errors: LlmError[];
  candidates: number;
  screened: number;
  /** Every verified candidate with its gains (eval:feedback records them). */
  scored: { edit: string; at: number; delta: number; perToken: number; kept: boolean }[];
}

/** The text whose first token starts the candidate: what the screen compares with the learner's word. */
function firstWord(c: Candidate, words: readonly string[]): string {
  return c.correction.split(" ")[0] || (words[c.at + c.len] ?? "");
}

/** Keeps the learner's capital and trailing punctuation around a corrected span. */
function dress(raw: readonly string[], c: Candidate): string {
  const first = raw[c.at] ?? "";
  const last = raw[c.at + c.len - 1] ?? "";
  let out = c.correction;
  if (/^\p{Lu}/u.test(first)) out = out.charAt(0).toUpperCase() + out.slice(1);
  const tail = /[^\p{L}\p{N}']+$/u.exec(last)?.[0] ?? "";
  return out + tail;
}

export async function likelihoodEdits(raw: readonly string[], skip: (i: number) => boolean, lm: WordScorer, score: Scorer, opts: LmEditOptions = LM_EDIT_DEFAULTS, signal?: AbortSignal): Promise<LmEditResult> {
  const cands = confusions(raw, skip);
  const res: LmEditResult = { errors: [], candidates: cands.length, screened: 0, scored: [] };
  if (cands.length === 0) return res;
  const words = raw.map((w) => w.trim());
  const alts = words.map(() => [] as string[]);
  for (const c of cands) alts[c.at]!.push(firstWord(c, words));
  const s = await lm.wordScores(SCREEN_CONTEXT, words, alts);
  const seen = words.map(() => 0);
  const survivors = cands.filter((c) => {
    const k = seen[c.at]!++;
    // A candidate that deletes the word starts with the next word: its own score is that word's.
    return s.alt[c.at]![k]! >= s.word[c.at]! - opts.screenSlack;
  });
  res.screened = survivors.length;
  const cache = new Map<string, Promise<{ logProb: number; tokens: number }>>();
  const cached: Scorer = (context, text) => {
    const key = `${context}\u0000${text}`;
    let p = cache.get(key);
    if (!p) cache.set(key, (p = score(context, text)));
    return p;
  };
  const kept: { c: Candidate; delta: number }[] = [];
  for (const c of survivors) {
    signal?.throwIfAborted();
    const original = words.slice(c.at, c.at + c.len).join(" ");
    const g = await editGain(words, c.at, c.len, original, c.correction, cached);
    const perToken = perTokenGain(g);
    const ok = g.delta >= opts.minGain && perToken >= 0;
    res.scored.push({ edit: `${original} -> ${c.correction}`, at: c.at, delta: g.delta, perToken, kept: ok });
    if (ok) kept.push({ c, delta: g.delta });
  }
  // The most likely edit of each place, then no two edits on one word.
  const taken = new Set<number>();
  for (const { c } of kept.sort((a, b) => b.delta - a.delta)) {
    const idx = Array.from({ length: c.len }, (_, k) => c.at + k);
    if (idx.some((i) => taken.has(i)) || res.errors.length >= opts.maxEdits) continue;
    idx.forEach((i) => taken.add(i));
    res.errors.push({ word_start: c.at, word_end: c.at + c.len - 1, original: raw.slice(c.at, c.at + c.len).join(" "), correction: dress(raw, c), type: c.type, explanation: c.explanation, severity: "moderate" });
  }
  res.errors.sort((a, b) => a.word_start! - b.word_start!);
  return res;
}
